"""``jacwrap export FILE... --to {minari,parquet}``: recordings in the formats researchers use.

``--to parquet DIR`` writes one folder of Parquet files per recording (one row per step;
pandas, polars, DuckDB and Hugging Face ``datasets`` read them); ``--to minari --dataset-id
ID`` writes a Minari dataset (``minari.load_dataset(ID)``; under ``MINARI_DATASETS_PATH``).
Both stream the files in constant memory and refuse to overwrite unless ``--overwrite``.
Layouts: jacwrap/data/parquet_export.py and minari_export.py (README: Export and scoring).
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export recordings to Parquet files or a Minari dataset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="recordings (.jwr), any envs")
    p.add_argument(
        "--to",
        nargs="+",
        required=True,
        metavar="FORMAT [DIR]",
        help="'parquet DIR' or 'minari' (with --dataset-id)",
    )
    p.add_argument(
        "--dataset-id",
        metavar="ID",
        help="Minari id, e.g. jacwrap/CheetahRun/expert-v0 ({env} for one dataset per env)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing export")
    p.add_argument("--author", help="Minari metadata: author")
    p.add_argument("--author-email", help="Minari metadata: author email")
    p.add_argument("--code-permalink", help="Minari metadata: link to the code")
    p.add_argument("--description", help="Minari metadata: description (default: generated)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    kind, *rest = args.to
    if kind == "parquet" and len(rest) == 1 and args.dataset_id is None:
        from jacwrap.data.parquet_export import export_parquet

        result = export_parquet(
            args.files, rest[0], overwrite=args.overwrite, show_progress=not args.quiet
        )
        what = f"{len(result.outputs)} Parquet file(s) in {rest[0]}"
    elif kind == "minari" and not rest and args.dataset_id:
        from jacwrap.data.minari_export import export_minari

        result = export_minari(
            args.files,
            args.dataset_id,
            overwrite=args.overwrite,
            show_progress=not args.quiet,
            author=args.author,
            author_email=args.author_email,
            code_permalink=args.code_permalink,
            description=args.description,
        )
        what = f"Minari dataset(s) {', '.join(result.outputs)}"
    else:
        print(
            "jacwrap export: use --to parquet DIR, or --to minari --dataset-id ID",
            file=sys.stderr,
        )
        return 2
    print(
        f"exported {result.steps} steps ({result.episodes} episodes) of {len(args.files)} "
        f"recording(s) -> {what} ({result.bytes / 1e6:.1f} MB, "
        f"{result.steps_per_s:,.0f} steps/s)"
    )
    return 0
