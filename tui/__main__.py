"""``python -m tui FILE``: replay a jacwrap recording in the terminal."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui", description=__doc__)
    parser.add_argument("file", help="a .jwr recording")
    args = parser.parse_args(argv)
    from .app import run

    return run(args.file)


if __name__ == "__main__":
    sys.exit(main())
