"""Evaluate a policy: the mean return over full episodes, one episode per env of a batch.

``python -m agents.evaluate CartpoleBalance agents/policies/CartpoleBalance.zip --episodes 10``
prints the return of the stochastic policy (its colored noise, as recordings roll it out)
and of its mean action (``--deterministic``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import jacwrap
from jacwrap.policies import Policy, SB3Policy, load_policy


def episode_returns(policy: Policy, env, seed: int = 0) -> np.ndarray:
    """Returns of one full episode in each env of an SB3 VecEnv ``env`` (``make_sb3``)."""
    n = env.num_envs
    env.seed(seed)
    obs = env.reset()
    policy.reset(n, seed)
    returns = np.zeros(n)
    running = np.ones(n, bool)
    for _ in range(env.env_info.episode_length):
        obs, reward, dones, _ = env.step(policy.act(obs).astype(np.float32))
        returns += np.where(running, reward, 0.0)
        running &= ~dones
        if not running.any():
            break
    return returns


def standard_error(returns: np.ndarray) -> float:
    """Standard error of the mean return (sample std / sqrt(n)); 0 for one episode."""
    n = len(returns)
    return float(np.std(returns, ddof=1) / np.sqrt(n)) if n > 1 else 0.0


def format_returns(returns: np.ndarray) -> str:
    """``mean +- std (standard error se)``, with the decimals that show the standard error to
    two significant digits (at least one): CartpoleBalance's 999.78 and 999.86 differ by
    several standard errors, which one decimal would hide."""
    se = standard_error(returns)
    digits = 1 if se <= 0 else max(1, 1 - int(np.floor(np.log10(se))))
    mean, std = float(returns.mean()), float(returns.std())
    return f"{mean:.{digits}f} +- {std:.{digits}f} (standard error {se:.{digits}f})"


def evaluate(spec: str, env_name: str, episodes: int = 10, seed: int = 0, deterministic=False):
    """Returns (one per episode) of the policy ``spec`` (``random``/``zero``/a ``.zip``)."""
    env = jacwrap.make_sb3(env_name, episodes, jacobians=False)
    policy = load_policy(spec, env.env_info)
    if deterministic and isinstance(policy, SB3Policy):
        policy = SB3Policy(policy.model, env.env_info, name=Path(spec).name, deterministic=True)
    return episode_returns(policy, env, seed), policy.description


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("env")
    p.add_argument("policy", help="random, zero or an SB3 .zip")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--deterministic", action="store_true", help="mean action, no noise")
    p.add_argument("--json", action="store_true", help="print a JSON line")
    a = p.parse_args(argv)
    r, desc = evaluate(a.policy, a.env, a.episodes, a.seed, a.deterministic)
    if a.json:
        print(
            json.dumps(
                {
                    "env": a.env,
                    "policy": desc,
                    "returns": r.tolist(),
                    "mean": float(r.mean()),
                    "std": float(r.std()),
                    "sem": standard_error(r),
                }
            )
        )
    else:
        print(f"{a.env} {desc}: return {format_returns(r)} over {len(r)} episodes, seed {a.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
