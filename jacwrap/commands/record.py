"""``jacwrap record``: roll a policy out and write a ``.jwr`` recording."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "record",
        help="record policy rollouts with exact Jacobians to a .jwr file",
        description="Roll out a policy in an environment and record every step (obs, action, "
        "reward, state, next state, J_s, J_a, sparsity) to one .jwr file; prints its path.",
    )
    p.add_argument("env", metavar="ENV", help="environment name (see `jacwrap envs`)")
    p.add_argument(
        "--policy",
        default="random",
        metavar="{random,zero,PATH}",
        help="'random', 'zero' or a Stable-Baselines3 policy .zip (default: random)",
    )
    p.add_argument("--episodes", type=int, default=1, metavar="N", help="episodes (default 1)")
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        metavar="T",
        help="steps per episode (default: the task's episode length, 1000)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default 0)")
    p.add_argument(
        "--out", default="recordings", metavar="DIR", help="output folder (default recordings)"
    )
    p.add_argument(
        "--num-envs", type=int, default=1, metavar="B", help="envs stepped together (default 1)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="W",
        help="processes sharing the batch, one per CPU core (default 1)",
    )
    p.add_argument(
        "--jac-dtype",
        choices=("float64", "float32"),
        default="float64",
        help="stored Jacobian dtype; float32 keeps the float64 zero masks (default float64)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing recording")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jacwrap.recording import record_rollouts

    path = record_rollouts(
        args.env,
        policy=args.policy,
        episodes=args.episodes,
        max_steps=args.max_steps,
        seed=args.seed,
        out_dir=args.out,
        num_envs=args.num_envs,
        workers=args.workers,
        jac_dtype=args.jac_dtype,
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    print(path)
    return 0
