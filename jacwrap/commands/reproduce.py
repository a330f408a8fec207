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


#: The numeric settings of :class:`~jacwrap.reproduce.plan.ReproduceConfig` as options:
#: (field, metavar, help); the default is read off the config.
NUMBERS = (
    ("steps_per_task", "N", "recorded steps per task, whole episodes (the paper: 1,000,000)"),
    ("episode_length", "T", "steps per episode (the tasks' 1000)"),
    ("shard_steps", "S", "steps per recording unit"),
    ("num_envs", "B", "envs stepped together per shard"),
    ("workers", "W", "processes per recording shard (local executor)"),
    ("fit_samples", "N", "fit on the first N steps of a task"),
    ("fit_seeds", "K", "seeds per loss mode (the paper: 15)"),
    ("fit_epochs", "E", "epochs per fit (the paper: 100)"),
    ("seed", "S", "base seed"),
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from jacwrap.reproduce.executors import EXECUTORS
    from jacwrap.reproduce.plan import ReproduceConfig

    d = ReproduceConfig()
    p = sub.add_parser(
        "reproduce",
        help="the paper's analyses (Q1-Q4) for many tasks in one resumable run, one report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tasks", nargs="+", default=list(d.tasks), metavar="T",
                   help="tasks (default: the paper's eight)")  # fmt: skip
    for name, metavar, text in NUMBERS:
        default = getattr(d, name)
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=default, metavar=metavar,
                       help=f"{text} (default {default:,})")  # fmt: skip
    p.add_argument("--jacobian-batch", type=_jacobian_batch, default=d.jacobian_batch,
                   metavar="K", help="Jacobian term on K samples of each batch, or 'all' "
                                     f"(default {d.jacobian_batch})")  # fmt: skip
    p.add_argument("--tsne", action="store_true", help="also draw each task's t-SNE (slow)")
    p.add_argument("--out", default="reproduction", metavar="DIR",
                   help="output folder (default: reproduction)")  # fmt: skip
    p.add_argument("--resume", action="store_true",
                   help="continue the run in DIR, redoing only its unfinished units")  # fmt: skip
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="run units here (local, default) or as Ray tasks (ray)")  # fmt: skip
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to join (default: start a local Ray instance)")  # fmt: skip
    p.add_argument("--plan-only", action="store_true", help="print the plan and stop")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jacwrap.reproduce.plan import ReproduceConfig, build_plan, format_plan
    from jacwrap.reproduce.run import reproduce

    settings = {name: getattr(args, name) for name, _, _ in NUMBERS}
    try:
        config = ReproduceConfig(tasks=tuple(args.tasks), jacobian_batch=args.jacobian_batch,
                                 tsne=args.tsne, **settings)  # fmt: skip
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
        command=["jacwrap", *sys.argv[1:]],
    )
    return 0
