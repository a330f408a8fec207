"""``jacwrap envs``: list the environment names jacwrap can build."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("envs", help="list the environments jacwrap can build")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jacwrap.envs import PAPER_ENVS, available_envs

    for name in available_envs():
        print(f"{name}{'  (paper)' if name in PAPER_ENVS else ''}")
    return 0
