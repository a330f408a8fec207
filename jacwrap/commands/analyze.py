"""``jacwrap analyze FILE... --out DIR``: the paper's sparsity tables and figures (Q1-Q3)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="global, state-dependent and temporal sparsity of recordings: tables and figures",
        description=(
            "Analyse .jwr recordings (several files and envs allowed; each env gets its own "
            "tables) and write PNG figures, the CSV/JSON behind them and an index.md to DIR. "
            "Unreadable or empty files are reported on stderr and skipped."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="recording files (.jwr)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument(
        "--tsne-cap",
        type=int,
        default=2000,
        metavar="N",
        help="at most N samples in the t-SNE (default 2000, from the first 10 episodes)",
    )
    p.add_argument(
        "--tsne-episodes",
        type=int,
        default=10,
        metavar="E",
        help="t-SNE samples come from the first E episodes of each env (default 10)",
    )
    p.add_argument("--no-tsne", action="store_true", help="skip the t-SNE (the slow part)")
    p.add_argument("--seed", type=int, default=0, help="seed of the t-SNE subsample and layout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jacwrap.analysis.report import analyze

    if args.tsne_cap < 1 or args.tsne_episodes < 1:
        print("jacwrap analyze: --tsne-cap and --tsne-episodes must be at least 1", file=sys.stderr)
        return 2
    result = analyze(
        args.files,
        args.out,
        tsne=not args.no_tsne,
        tsne_cap=args.tsne_cap,
        tsne_episodes=args.tsne_episodes,
        seed=args.seed,
    )
    if not result.ok:
        print("jacwrap analyze: no recording could be analysed; nothing written", file=sys.stderr)
        return 1
    print(
        f"analysed {sum(len(g.files) for g in result.groups)} of {len(args.files)} file(s) "
        f"({', '.join(g.label for g in result.groups)}); {len(result.written)} files in "
        f"{result.out_dir}; see {result.index}"
    )
    return 0
