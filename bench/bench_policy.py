"""Recording with the shipped expert policy vs random actions, side by side (`just bench`).

What ``jacwrap record --policy`` does at every step, on one batch of envs: the policy acts
on the batch's observations, the batch takes a Jacobian step, the step goes to a
``RecordingWriter``. Both policies (``random`` and the shipped SB3 expert, loaded the way
``--policy`` loads them) drive the same batch in alternating blocks of steps, so that load
from other processes hits both alike; the fastest block of each is reported, with the
policy's own ``act`` time per step and the ratios expert / random of wall and process CPU
time (target: at most 1.1).

    python -m bench.bench_policy [--env CheetahRun] [--batch 32] [--steps 40] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def timed_block(venv, policy, writer, steps: int) -> tuple[float, float, float]:
    """Seconds for ``steps`` recorded steps: (wall, process CPU, wall inside ``policy.act``).

    CPU time (all of this process's threads) is the steadier measure on a shared machine.
    """
    from jacwrap.sparsity import SPARSITY_KINDS

    obs, _ = venv.reset(seed=0)
    acting = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        ta = time.perf_counter()
        actions = np.asarray(policy.act(obs), np.float64)
        acting += time.perf_counter() - ta
        next_obs, reward, terminated, truncated, infos = venv.step(actions)
        sp = infos["sparsity"]
        writer.add_batch(
            obs=obs,
            action=actions,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            state=infos["state"],
            next_state=infos["next_state"],
            jac_state=infos["jac_state"],
            jac_action=infos["jac_action"],
            sparsity=np.stack([sp[k] for k in SPARSITY_KINDS], -1),
            finite=infos["jac_finite"],
            env_indices=np.arange(len(obs)),
        )
        obs = next_obs
    return time.perf_counter() - t0, time.process_time() - c0, acting


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="CheetahRun")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=40, help="steps per timed block")
    ap.add_argument("--rounds", type=int, default=5, help="timed blocks per policy")
    args = ap.parse_args(argv)

    import jax

    import jacwrap
    from jacwrap.policies import load_policy
    from jacwrap.recording.header import RecordingHeader
    from jacwrap.recording.writer import RecordingWriter
    from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD

    expert = ROOT / "agents" / "policies" / f"{args.env}.zip"
    venv = jacwrap.make_vec(args.env, args.batch)
    info = venv.env_info
    specs = {"random": "random", "expert": str(expert)}
    policies = {k: load_policy(v, info) for k, v in specs.items()}
    load = os.getloadavg()[0]
    print(
        f"# jacwrap policy benchmark  {time.strftime('%Y-%m-%d')}  {platform.machine()}, "
        f"{os.cpu_count()} cores, load {load:.1f}, jax {jax.__version__}"
    )
    print()
    times = {k: [] for k in policies}
    cpus = {k: [] for k in policies}
    acts = {k: [] for k in policies}
    with tempfile.TemporaryDirectory() as tmp:
        writers = {}
        for k, pol in policies.items():
            pol.reset(args.batch, 0)
            header = RecordingHeader.from_env_info(
                info,
                int(np.prod(venv.single_observation_space.shape)),
                threshold=GROUND_TRUTH_THRESHOLD,
                policy=pol.description,
                seed=0,
            )
            writers[k] = RecordingWriter(Path(tmp) / f"{k}.jwr", header)
            timed_block(venv, pol, writers[k], 2)  # compile (or cache hit), torch warm-up
        for _ in range(args.rounds):
            for k, pol in policies.items():
                total, cpu, acting = timed_block(venv, pol, writers[k], args.steps)
                times[k].append(total)
                cpus[k].append(cpu)
                acts[k].append(acting)
        for w in writers.values():
            w.close()
    venv.close()
    print(
        "| env | batch | policy | recorded steps/s | policy act ms/step (wall) | "
        "wall / random | CPU time / random |"
    )
    print("|---|---|---|---|---|---|---|")
    base, base_cpu = min(times["random"]), min(cpus["random"])
    for k in policies:
        best = int(np.argmin(times[k]))
        rate = args.steps * args.batch / times[k][best]
        act_ms = 1e3 * acts[k][best] / args.steps
        print(
            f"| {args.env} | {args.batch} | {policies[k].description} | {rate:,.0f} | "
            f"{act_ms:.2f} | {times[k][best] / base:.3f} | {min(cpus[k]) / base_cpu:.3f} |",
            flush=True,
        )
    print()
    print(
        f"fastest of {args.rounds} alternating blocks of {args.steps} steps per policy; "
        f"load after: {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
