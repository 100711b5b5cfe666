"""``python -m aioscout``: the same command line as the ``aioscout`` script."""

from aioscout.cli import main

if __name__ == "__main__":
    main(prog_name="aioscout")
