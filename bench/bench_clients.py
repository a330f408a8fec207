"""N envs built one at a time vs one batched env, side by side (`just bench`).

What a script from the SB3 or CleanRL docs builds (``make_vec_env(id, n_envs=N)``, a
``DummyVecEnv`` of N ``gymnasium.make``; ``SyncVectorEnv``) against jacwrap's batched
adapters (``make_sb3``, ``make_vec``) at the same N, each in a fresh process with the
compile cache the first (warm-up) run left:

- first step: seconds from building the env(s) to the end of the first step;
- Jacobian steps/s over all N envs after that.

A single env's first step is the reference: N envs built one at a time share one compiled
step, so their first step should cost about the same.

    python -m bench.bench_clients [--env CheetahRun] [--num-envs 8] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile

from bench.fresh import run_fresh

_RUN = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import gymnasium as gym
import jacwrap
client, name, n, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
env_id = f"jacwrap/{name}-v0"
if client == "gymnasium.make (1 env)":
    n = 1
    env = gym.make(env_id)
    env.reset(seed=0)

    def step(a):
        out = env.step(a[0])
        if out[2] or out[3]:  # episode over: a single env does not auto-reset
            env.reset()
        return out
elif client == "make_vec_env":
    from stable_baselines3.common.env_util import make_vec_env
    env = make_vec_env(env_id, n_envs=n, seed=0)
    env.reset()
    step = lambda a: (env.step_async(a), env.step_wait())
elif client == "SyncVectorEnv":
    env = gym.vector.SyncVectorEnv([lambda: gym.make(env_id)] * n)
    env.reset(seed=0)
    step = env.step
elif client == "make_sb3":
    env = jacwrap.make_sb3(name, n)
    env.seed(0)
    env.reset()
    step = lambda a: (env.step_async(a), env.step_wait())
else:
    env = jacwrap.make_vec(name, n)
    env.reset(seed=0)
    step = env.step
m = len(jacwrap.envs.describe(jacwrap.envs.load_playground(name), name).action_labels)
acts = np.random.default_rng(0).uniform(-1, 1, (16, n, m)).astype(np.float32)
step(acts[0])
first = time.perf_counter() - t0
k, t1 = 0, time.perf_counter()
while time.perf_counter() - t1 < seconds:
    step(acts[k % 16])
    k += 1
rate = k * n / (time.perf_counter() - t1)
print(json.dumps({"first_s": first, "steps_per_s": rate}))
"""

CLIENTS = ("gymnasium.make (1 env)", "make_vec_env", "SyncVectorEnv", "make_sb3", "make_vec")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="CheetahRun")
    ap.add_argument("--num-envs", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        environ = {**os.environ, "JACWRAP_CACHE_DIR": cache}
        for client in CLIENTS:  # warm the compile cache: each client's step once
            run_fresh(_RUN, [client, args.env, args.num_envs, 0.0], environ, args.timeout)
        rows = {
            c: run_fresh(_RUN, [c, args.env, args.num_envs, args.seconds], environ, args.timeout)
            for c in CLIENTS
        }
    one = rows[CLIENTS[0]]
    print(f"\n# Clients: {args.num_envs} envs of {args.env} built one at a time vs batched")
    print("(fresh process each, warm compile cache; ratios against one gymnasium.make env)\n")
    print("| client | envs | first step (s) | vs 1 env | Jacobian steps/s | vs N x 1 env |")
    print("|---|---|---|---|---|---|")
    for c, r in rows.items():
        n = 1 if c == CLIENTS[0] else args.num_envs
        print(
            f"| {c} | {n} | {r['first_s']:.1f} | {r['first_s'] / one['first_s']:.2f}x | "
            f"{r['steps_per_s']:,.0f} | {r['steps_per_s'] / one['steps_per_s']:.2f}x |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
