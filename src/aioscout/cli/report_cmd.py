"""``aioscout report``: one offline HTML file from the results of any command."""

from __future__ import annotations

import sys

import click

__all__ = ["report"]


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    default="report.html",
    show_default=True,
    metavar="FILE",
    help="The HTML file to write (self-contained: opens without network).",
)
@click.option("--title", default="", metavar="TEXT", help="The report's heading.")
@click.version_option(None, "-V", "--version", package_name="aioscout")
def report(results: tuple[str, ...], output: str, title: str) -> None:
    """Write an HTML report (summary, charts, page groups, a searchable table).

    RESULTS are JSON Lines files written by any aioscout command (http, dns,
    fetch, ports, screenshot); records of different commands may be mixed.

    \b
    Examples:
      aioscout report http.jsonl -o report.html
      aioscout report http.jsonl dns.jsonl ports.jsonl -o all.html --title "ACME recon"
    """
    from ..report import build_report

    stats = build_report(results, output, title=title)
    print(
        f"report: {stats['records']} records, {stats['groups']} page groups, "
        f"{stats['bytes'] / 1e6:.1f} MB -> {output}",
        file=sys.stderr,
    )
