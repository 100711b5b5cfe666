"""``aioscout screenshot``: capture the pages of earlier results; the options ``http`` shares."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

__all__ = ["screenshot", "screenshot_options", "shot_options_from"]


def _viewport(value: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected WIDTHxHEIGHT, e.g. 1280x800") from None
    if not (100 <= width <= 4096 and 100 <= height <= 4096):
        raise click.BadParameter(f"{value!r}: width and height must be 100-4096")
    return width, height


def screenshot_options(tabs_flag: bool = True) -> Callable[[Any], Any]:
    """The viewport, tab, timeout and memory options of a command that takes screenshots."""

    def wrap(f: Any) -> Any:
        for option in reversed(
            [
                click.option(
                    "--screenshot-tabs",
                    "shot_tabs",
                    type=click.IntRange(1, 64),
                    default=4,
                    show_default=True,
                    help="Pages captured at once (per worker: one browser each).",
                ),
                click.option(
                    "--screenshot-timeout",
                    "shot_timeout",
                    type=click.FloatRange(1, 300),
                    default=15.0,
                    show_default=True,
                    help="Seconds a page may take to load before it is given up.",
                ),
                click.option(
                    "--viewport",
                    "shot_viewport",
                    default="1280x800",
                    show_default=True,
                    metavar="WxH",
                    help="The browser window's size.",
                ),
                click.option(
                    "--full-page", "shot_full_page", is_flag=True, help="Capture the whole page."
                ),
                click.option(
                    "--browser-memory",
                    "shot_memory",
                    type=click.IntRange(200, 65536),
                    default=1024,
                    show_default=True,
                    metavar="MB",
                    help="Restart the browser when its processes use more (PSS).",
                ),
            ]
        ):
            f = option(f)
        return f

    return wrap


def shot_options_from(p: dict[str, Any], directory: str) -> Any:
    """The :class:`~aioscout.browser.shots.ScreenshotOptions` the flags in ``p`` ask for."""
    from ..browser.cdp import find_chromium
    from ..browser.shots import ScreenshotOptions

    if find_chromium() is None:
        raise click.UsageError("screenshots need chromium (apt-get install chromium)")
    width, height = _viewport(p["shot_viewport"])
    return ScreenshotOptions(
        directory=directory,
        tabs=p["shot_tabs"],
        timeout=p["shot_timeout"],
        width=width,
        height=height,
        full_page=p["shot_full_page"],
        max_memory=p["shot_memory"] * 2**20,
    )


def _lines(paths: tuple[str, ...]) -> Iterator[bytes]:
    for path in paths:
        if path == "-":
            yield from sys.stdin.buffer
            continue
        with open(path, "rb") as handle:
            yield from handle


@click.command()
@click.argument("results", nargs=-1, required=True)
@click.option("-d", "--dir", "directory", required=True, metavar="DIR", help="Where the PNGs go.")
@click.option(
    "-o", "--output", default="-", metavar="FILE", help="The records with their screenshots."
)
@screenshot_options()
@click.version_option(None, "-V", "--version", package_name="aioscout")
def screenshot(results: tuple[str, ...], directory: str, output: str, **p: Any) -> None:
    """Capture each web page of earlier results with headless Chromium.

    RESULTS are JSON Lines files (or - for stdin) from aioscout http (or ports:
    records with a url and a status). Every record is written back, in order,
    with "screenshot" (the PNG's path, named by the URL's sha256) and
    "screenshot_error"; only http and https pages are opened, each in a
    fresh browser context.

    \b
    Examples:
      aioscout screenshot http.jsonl -d shots -o http-shots.jsonl
      aioscout report http-shots.jsonl -o report.html
    """
    from ..browser.stage import screenshot_lines

    options = shot_options_from(p, directory)

    async def run() -> None:
        out = sys.stdout.buffer if output == "-" else open(output, "wb")  # noqa: SIM115
        try:
            async for line in screenshot_lines(_lines(results), options):
                out.write(line)
        finally:
            if out is not sys.stdout.buffer:
                out.close()
            else:
                out.flush()

    asyncio.run(run())
