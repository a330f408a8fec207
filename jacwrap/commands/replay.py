"""``jacwrap replay FILE``: play a recording back in the terminal (the Textual app in
``jacwrap.tui``, the repository's ``tui/``; needs the ``tui`` extra)."""

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
    from jacwrap._extras import require

    require("tui", "textual")  # Textual is imported only by this command
    from jacwrap.tui.app import run as run_app

    return run_app(args.file)
