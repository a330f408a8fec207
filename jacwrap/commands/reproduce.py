"""``jacwrap reproduce``: record, analyse (Q1-Q3) and fit (Q4) many tasks; one report.

For each task: record the steps with its shipped expert policy, run ``jacwrap analyze`` on
them, fit the five loss modes, and finally write DIR/index.md and DIR/report.html (figures
embedded) with the CSV/JSON of every number. Prints the plan (units, estimated time per
task, disk) first. Killed runs continue with --resume, which redoes only unfinished units.
"""

from __future__ import annotations

import argparse
import sys


def _jacobian_batch(text: str) -> int | None:
    if text in ("all", "none"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'all', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    from jacwrap.reproduce.executors import EXECUTORS
    from jacwrap.reproduce.plan import PAPER_STEPS_PER_TASK, ReproduceConfig

    d = ReproduceConfig()
    p = sub.add_parser(
        "reproduce",
        help="the paper's analyses (Q1-Q4) for many tasks in one resumable run, one report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--tasks",
        nargs="+",
        default=list(d.tasks),
        metavar="T",
        help="tasks (default: the paper's eight)",
    )
    p.add_argument(
        "--steps-per-task",
        type=int,
        default=d.steps_per_task,
        metavar="N",
        help=f"recorded steps per task, whole episodes (default {d.steps_per_task:,}; "
        f"the paper: {PAPER_STEPS_PER_TASK:,})",
    )
    p.add_argument(
        "--episode-length",
        type=int,
        default=d.episode_length,
        metavar="T",
        help=f"steps per episode (default {d.episode_length}, the tasks')",
    )
    p.add_argument(
        "--shard-steps",
        type=int,
        default=d.shard_steps,
        metavar="S",
        help=f"steps per recording unit (default {d.shard_steps:,})",
    )
    p.add_argument(
        "--num-envs",
        type=int,
        default=d.num_envs,
        metavar="B",
        help=f"envs stepped together per shard (default {d.num_envs})",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=d.workers,
        metavar="W",
        help=f"processes per recording shard, local executor (default {d.workers})",
    )
    p.add_argument(
        "--fit-samples",
        type=int,
        default=d.fit_samples,
        metavar="N",
        help=f"fit on the first N steps of a task (default {d.fit_samples:,})",
    )
    p.add_argument(
        "--fit-seeds",
        type=int,
        default=d.fit_seeds,
        metavar="K",
        help=f"seeds per loss mode (default {d.fit_seeds}; the paper: 15)",
    )
    p.add_argument(
        "--fit-epochs",
        type=int,
        default=d.fit_epochs,
        metavar="E",
        help=f"epochs per fit (default {d.fit_epochs}; the paper: 100)",
    )
    p.add_argument(
        "--jacobian-batch",
        type=_jacobian_batch,
        default=d.jacobian_batch,
        metavar="K",
        help=f"Jacobian term on K samples of each batch, or 'all' (default {d.jacobian_batch})",
    )
    p.add_argument("--seed", type=int, default=d.seed, help=f"base seed (default {d.seed})")
    p.add_argument("--tsne", action="store_true", help="also draw each task's t-SNE (slow)")
    p.add_argument(
        "--out", default="reproduction", metavar="DIR", help="output folder (default: reproduction)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in DIR, redoing only its unfinished units",
    )
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="run units here (local, default) or as Ray tasks (ray)",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="Ray cluster to join (default: start a local Ray instance)",
    )
    p.add_argument("--plan-only", action="store_true", help="print the plan and stop")
    p.set_defaults(func=run)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from jacwrap.reproduce.plan import ReproduceConfig, build_plan, format_plan
    from jacwrap.reproduce.run import reproduce

    try:
        config = ReproduceConfig(
            tasks=tuple(args.tasks),
            steps_per_task=args.steps_per_task,
            episode_length=args.episode_length,
            shard_steps=args.shard_steps,
            num_envs=args.num_envs,
            fit_samples=args.fit_samples,
            fit_seeds=args.fit_seeds,
            fit_epochs=args.fit_epochs,
            jacobian_batch=args.jacobian_batch,
            seed=args.seed,
            tsne=args.tsne,
            workers=args.workers,
        )
    except ValueError as exc:  # a bad number; an unknown task raises UnknownEnvError
        print(f"jacwrap reproduce: error: {exc}", file=sys.stderr)
        return 2
    if args.plan_only:
        print(format_plan(build_plan(config)))
        return 0
    reproduce(
        config,
        args.out,
        resume=args.resume,
        executor=args.executor,
        ray_address=args.ray_address,
        command=["jacwrap", *sys.argv[1:]] if sys.argv[0].endswith("jacwrap") else sys.argv,
    )
    return 0
