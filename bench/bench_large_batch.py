"""Large batches in one process: compile time and Jacobian steps/s at 32, 128 and 1024 envs.

On CPU a batch over ``jacwrap.batch.SUB_BATCH`` envs is stepped as sub-batches of that size
by one compiled step, so its cold compile should cost what batch 32's does. Each row runs
in a fresh process with an empty compile cache (`just bench`):

    python -m bench.bench_large_batch [--envs CartpoleBalance CheetahRun] [--batches 32 128 1024]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile

from bench.fresh import run_fresh

_RUN = r"""
import json, sys, time
import numpy as np
import jacwrap
name, batch, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
t0, c0 = time.perf_counter(), time.process_time()
env = jacwrap.make_vec(name, batch)  # builds the env and compiles every program of the batch
env.reset(seed=0)
acts = np.random.default_rng(0).uniform(-1, 1, (4, batch, env.single_action_space.shape[0]))
env.step(acts[0])
compile_s, compile_cpu = time.perf_counter() - t0, time.process_time() - c0
import threading  # the auto tangent's unrolled fallback compiles in the background (cold)
for t in threading.enumerate():
    if t.name == "jacwrap-compile-later":
        t.join()
all_s = time.perf_counter() - t0
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < seconds:
    env.step(acts[n % 4])
    n += 1
rate = n * batch / (time.perf_counter() - t0)
print(json.dumps({"compile_s": compile_s, "compile_cpu": compile_cpu, "all_s": all_s, "steps_per_s": rate}))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--envs", nargs="+", default=["CartpoleBalance", "CheetahRun"])
    ap.add_argument("--batches", nargs="+", type=int, default=[32, 128, 1024])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)
    print("\n# Large batches, one process (fresh compile cache per row)\n")
    print(
        "| env | batch | make_vec + reset + first step, cold (s) | its CPU time (s) | every program compiled (s) | Jacobian steps/s |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.envs:
        for batch in args.batches:
            with tempfile.TemporaryDirectory() as cache:
                environ = {**os.environ, "JACWRAP_CACHE_DIR": cache}
                try:
                    r = run_fresh(_RUN, [name, batch, args.seconds], environ, args.timeout)
                except subprocess.TimeoutExpired:
                    print(f"| {name} | {batch} | > {args.timeout:.0f} (timed out) | - | - | - |")
                    continue
            print(
                f"| {name} | {batch} | {r['compile_s']:.1f} | {r['compile_cpu']:.1f} | "
                f"{r['all_s']:.1f} | {r['steps_per_s']:,.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
