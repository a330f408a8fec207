"""``jacwrap`` command line: one sub-command per module in :mod:`jacwrap.commands`.

Each command module defines ``add_parser(subparsers)`` (which sets ``func`` on its parser)
so that commands stay in small files of their own.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from jacwrap.errors import JacwrapError

COMMANDS = (
    "demo",
    "record",
    "summary",
    "analyze",
    "fit",
    "reproduce",
    "score",
    "export",
    "replay",
    "render",
    "envs",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jacwrap",
        description="Exact Jacobians and their sparsity for MuJoCo Playground environments.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"jacwrap.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except JacwrapError as exc:
        print(f"jacwrap {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
