"""Jacobian-step throughput, side by side in one run (`just bench`).

For each task and batch size: plain env steps/s, Jacobian steps/s (both through
:class:`jacwrap.batch.EnvBatch`, i.e. what the Gymnasium/SB3 adapters deliver, host
transfer included), their ratio, the Jacobian step with the unrolled solver tangent beside
the default auto one (:mod:`jacwrap.solver_tangent`; which step served the timed calls), and the cost of
MuJoCo C's centered finite differences on one core in both forms: whole-step (the env step
differenced from the env's warm start, the test oracle, docs/SCIENCE.md) and chained
(`mjd_transitionFD` at every substep, multiplied; wrong once a constraint is active). Then cold-compile and warm-cache time to the first Jacobian step, each in
a fresh process.

The throughput runs are pinned to one core (the process, before JAX starts its threads), so
that "per core" means one core on both sides: unpinned on this 2-core machine XLA's CPU
threads hand work between the cores and the Jacobian step ran 1.3-1.6x *slower* while
keeping 1.7 cores busy (BENCHMARKS.md, "One core"). ``--all-cores`` measures unpinned; the
CPU-share column then says how many cores the steps kept busy. The cold and warm start runs
are fresh processes on all cores.

    python -m bench.bench_env [--envs CartpoleBalance CheetahRun] [--batches 1 32 128] [--all-cores]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np

from bench.fresh import run_fresh


def throughput(
    name: str, batch: int, jacobians: bool, seconds: float = 3.0, solver_tangent: str = "auto"
) -> tuple[float, object]:
    """(env steps/s, the batch's TangentStats, CPU seconds per wall second) of ``seconds`` of
    random-action steps. The CPU share says how many cores the steps kept busy: steps/s
    divided by it is steps per CPU-second, the fair peer of one core's FD."""
    from jacwrap.batch import EnvBatch
    from jacwrap.envs import describe, load_playground

    env = load_playground(name)
    b = EnvBatch(
        env, describe(env, name), batch, jacobians=jacobians, solver_tangent=solver_tangent
    )
    b.reset(list(range(batch)))
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, (64, batch, env.action_size))
    b.prepare()  # compile (or cache hit), the auto tangent's unrolled fallback too
    for a in acts[:8]:
        b.step(a)
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        b.step(acts[n % 64])
        n += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return n * batch / wall, b.tangent_stats, cpu / wall


def fd_samples(name: str, samples: int = 20) -> list[tuple]:
    """(qpos, qvel, warm start, action) before each of ``samples`` MuJoCo C env steps.

    From the Playground reset state (seed 0), random actions, the warm start carried from
    step to step as the C env carries it: the states a user of the C peer would see.
    """
    import mujoco

    from jacwrap.envs import describe, load_playground
    from jacwrap.gym_env import JacobianWrapper

    env = load_playground(name)
    info = describe(env, name)
    _, reset = JacobianWrapper(env, name=name, jacobians=False).reset(seed=0)
    model = env.mj_model
    data = mujoco.MjData(model)
    data.qpos[:] = reset["state"][: info.nq]
    data.qvel[:] = reset["state"][info.nq :]
    rng = np.random.default_rng(0)
    out = []
    for _ in range(samples):
        a = rng.uniform(-1, 1, info.nu)
        out.append((data.qpos.copy(), data.qvel.copy(), data.qacc_warmstart.copy(), a))
        data.ctrl[:] = a
        for _ in range(info.n_substeps):
            mujoco.mj_step(model, data)
    return out


def fd_throughput(name: str, seconds: float = 3.0, samples: int = 20) -> tuple[float, float]:
    """MuJoCo C finite-difference Jacobian steps/s on one core: (whole-step, chained).

    Whole-step (the oracle, docs/SCIENCE.md): 2 (n + m) + 1 env steps from the same warm start, in
    one ``mujoco.rollout`` call. Chained: ``mjd_transitionFD`` at every substep, multiplied
    (exact only while no constraint is active). Each form cycles over the same ``samples``
    states for ``seconds`` after one untimed pass, as long as the Jacobian rows are timed
    (one pass of 20 states lasts under 0.1 s, and twelve passes in a row of WalkerRun's ran
    at 264-330 steps/s, the first ones fastest: one pass was the old, noisy peer).
    """
    from jacwrap.envs import describe, load_playground
    from jacwrap.finite_differences import chained_fd, whole_step_fd

    env = load_playground(name)
    k = describe(env, name).n_substeps
    model = env.mj_model
    states = fd_samples(name, samples)

    def rate(fd) -> float:
        for q, v, w, a in states:  # untimed: first-call costs
            fd(model, q, v, a, k, qacc_warmstart=w)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            q, v, w, a = states[n % len(states)]
            fd(model, q, v, a, k, qacc_warmstart=w)
            n += 1
        return n / (time.perf_counter() - t0)

    return rate(whole_step_fd), rate(chained_fd)


_FIRST_STEP = r"""
import time, sys, json
t0 = time.perf_counter()
import numpy as np
import jacwrap
from jacwrap.batch import EnvBatch
from jacwrap.envs import describe, load_playground
t1 = time.perf_counter()
env = load_playground(sys.argv[1])
b = EnvBatch(env, describe(env, sys.argv[1]), int(sys.argv[2]))
b.reset(list(range(int(sys.argv[2]))))
b.step(np.zeros((int(sys.argv[2]), env.action_size)))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_step_s": t2 - t1}))
"""


def first_step(name: str, batch: int, cache_dir: str) -> dict:
    env = {**os.environ, "JACWRAP_CACHE_DIR": cache_dir}
    return run_fresh(_FIRST_STEP, [name, batch], env)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--envs", nargs="+", default=["CartpoleBalance", "CheetahRun"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--no-compile", action="store_true", help="skip the cold/warm start runs")
    ap.add_argument(
        "--compile-batches",
        nargs="+",
        type=int,
        default=[32],
        help="batch sizes of the cold/warm start runs (default 32)",
    )
    ap.add_argument("--all-cores", action="store_true", help="do not pin to one core")
    args = ap.parse_args(argv)
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cores and not args.all_cores:
        os.sched_setaffinity(0, {min(cores)})  # before JAX starts: its threads inherit it

    import jax

    import jacwrap  # noqa: F401  (float64 + cache)
    from jacwrap.envs import describe, load_playground

    print(
        f"# jacwrap env benchmark  {time.strftime('%Y-%m-%d')}  {platform.machine()}, "
        f"{os.cpu_count()} cores, jax {jax.__version__}, devices {jax.devices()}, "
        + (
            "throughput on all cores"
            if args.all_cores or not cores
            else "throughput pinned to 1 core"
        )
    )
    print()
    print(
        "| env | n+m | batch | plain steps/s | Jacobian steps/s | ratio plain/Jacobian | "
        "unrolled solver tangent: Jacobian steps/s | auto / unrolled | calls: implicit, "
        "redone, unrolled | MuJoCo C whole-step FD steps/s (1 core) | Jacobian / whole-step "
        "FD | CPU share (cores busy) | MuJoCo C chained FD steps/s (1 core) | "
        "Jacobian / chained FD |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.envs:
        env = load_playground(name)
        info = describe(env, name)
        whole, chained = fd_throughput(name, args.seconds)
        for batch in args.batches:
            plain, _, _ = throughput(name, batch, False, args.seconds)
            jac, stats, busy = throughput(name, batch, True, args.seconds)
            unrolled, _, _ = throughput(name, batch, True, args.seconds, "unrolled")
            calls = f"{stats.implicit}, {stats.redone}, {stats.unrolled}"
            print(
                f"| {name} | {info.n + info.m} | {batch} | {plain:,.0f} | {jac:,.0f} | "
                f"{plain / jac:.1f} | {unrolled:,.0f} | {jac / unrolled:.2f} | {calls} | "
                f"{whole:,.0f} | **{jac / whole:.2f}** | {busy:.2f} | "
                f"{chained:,.0f} | {jac / chained:.2f} |",
                flush=True,
            )
    if args.no_compile:
        return 0
    if cores:
        os.sched_setaffinity(0, cores)  # the start-up runs: fresh processes on every core
    print()
    print("| env | batch | cold: first Jacobian step (s) | warm cache: first Jacobian step (s) |")
    print("|---|---|---|---|")
    for name in args.envs:
        for batch in args.compile_batches:
            with tempfile.TemporaryDirectory() as cache:
                cold = first_step(name, batch, cache)
                warm = first_step(name, batch, cache)
            print(
                f"| {name} | {batch} | {cold['first_step_s']:.1f} | {warm['first_step_s']:.1f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
