"""``jacwrap demo``: record a short episode with a shipped policy, summarise it, replay it.

The built-in default of the README's Quickstart: one command that shows what jacwrap does.
The replay opens only when a terminal is attached (standard input and output are TTYs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jacwrap.policies import shipped_policy


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="record a short demo episode with a shipped policy, summarise and replay it",
    )
    p.add_argument("env", nargs="?", default="CartpoleBalance", help="task (default %(default)s)")
    p.add_argument("--steps", type=int, default=200, help="episode length (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="recordings", help="output folder (default %(default)s)")
    p.add_argument(
        "--policy", default=None, help="random, zero or an SB3 .zip (default: the shipped one)"
    )
    p.add_argument("--no-replay", action="store_true", help="do not open the terminal replay")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jacwrap.recording import open_recording, record_rollouts
    from jacwrap.recording.summary import summarize, to_table

    policy = args.policy or shipped_policy(args.env) or "random"
    print(f"recording {args.steps} steps of {args.env} with policy {policy} ...", flush=True)
    path = record_rollouts(
        args.env,
        policy=policy,
        episodes=1,
        max_steps=args.steps,
        seed=args.seed,
        out_dir=args.out,
        progress=sys.stderr.isatty(),
        path=Path(args.out) / f"demo-{args.env}-seed{args.seed}.jwr",
        overwrite=True,
    )
    with open_recording(path) as rec:
        sys.stdout.write(to_table(summarize(rec, label=str(path))))
    print(f"\nrecording: {path}")
    if args.no_replay or not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(f"replay it with: jacwrap replay {path}")
        return 0
    from jacwrap._extras import require

    require("tui", "textual")
    from jacwrap.tui.app import run as run_app

    return run_app(path)
