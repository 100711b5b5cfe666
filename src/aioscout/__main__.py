"""``python -m aioscout``: the same command line as the ``aioscout`` script."""

from aioscout.cli import cli

if __name__ == "__main__":
    cli(prog_name="aioscout")
