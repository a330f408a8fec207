"""``jacwrap summary``: one row per recorded episode (sparsity, always-zero elements, runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summary",
        help="per-episode sparsity summary of recordings",
        description="One row per episode: env, episode, steps, return, mean/min/max sparsity "
        "of J_s, J_a and [J_s|J_a], elements zero at every step (count and %%), zero/non-zero "
        "switches and mean zero / non-zero run lengths (whole-episode runs excluded).",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help=".jwr recordings")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--out", metavar="PATH", help="write to PATH instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jacwrap.recording import open_recording
    from jacwrap.recording.summary import FORMATS, summarize

    rows = []
    for name in args.files:
        with open_recording(name) as rec:
            if rec.truncated_tail:
                print(f"warning: {rec.truncated_tail}", file=sys.stderr)
            rows.extend(summarize(rec, label=name))
    text = FORMATS[args.format](rows)
    if args.out:
        Path(args.out).write_text(text)
        print(args.out)
    else:
        sys.stdout.write(text)
    return 0
