"""``jacwrap replay FILE``: play a recording back in the terminal (the Textual app in ``tui``)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="replay a recording in the terminal (keyboard only; ? lists the keys)",
        description="Replay a .jwr recording: Jacobian heatmaps, sparsity, run lengths, fits.",
    )
    p.add_argument("file", help="a .jwr recording")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tui.app import run as run_app  # Textual is imported only by this command

    return run_app(args.file)
