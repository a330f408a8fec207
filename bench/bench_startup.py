"""Time to the first Jacobian step in a fresh process, cold and warm (`just bench`).

Each run is a new Python process that imports jacwrap, builds the Playground env and an
:class:`jacwrap.batch.EnvBatch`, resets it and takes one Jacobian step; the total is wall
time from starting the process (interpreter start-up included) to the step's results on
the host; the stages add up to all of it but Python's own start-up. "import playground"
is the import inside ``load_playground`` (a prefetch of the compiled step, if any, runs
from its start, see :func:`jacwrap.step_cache.prefetch`), "build env" the rest of it.
The step column says where the step came from: traced, loaded (from the step cache, while
the batch was built) or prefetched (loaded in the background during the import).

- cold: empty compile cache and step cache (a temporary directory);
- warm, no step cache: the compile cache warm, ``JACWRAP_STEP_CACHE_DIR=""`` (what jacwrap
  did before :mod:`jacwrap.step_cache`: reset and step traced again in every process);
- warm: both caches warm (the step loaded, not traced).

    python -m bench.bench_startup [--env CheetahRun] [--batch 32] [--repeats 2] [--no-before]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_CHILD = r"""
import json, sys, time
spawned = float(sys.argv[3])  # time.time() in the parent just before it started this process
t0 = time.perf_counter()
import jax
t_jax = time.perf_counter()
import jacwrap
import jacwrap.envs
from jacwrap.batch import EnvBatch
from jacwrap.envs import describe, load_playground
t_jacwrap = time.perf_counter()
marks = {}
registry = jacwrap.envs.playground_registry
def timed_registry():  # load_playground imports Playground here (after starting any prefetch)
    out = registry()
    marks.setdefault("pg", time.perf_counter())
    return out
jacwrap.envs.playground_registry = timed_registry
name, rows = sys.argv[1], int(sys.argv[2])
env = load_playground(name)
info = describe(env, name)
t_env = time.perf_counter()
t_pg = marks["pg"]
batch = EnvBatch(env, info, rows)
t_batch = time.perf_counter()
batch.reset(list(range(rows)))
t_reset = time.perf_counter()
import numpy as np
step = batch.step(np.zeros((rows, info.nu)))
assert step.jac_state.shape == (rows, info.n, info.n)
t_step = time.perf_counter()
total = time.time() - spawned
step_fn = batch._step  # what the batch steps with: a step_cache.CachedFunction, or jax.jit
source = "traced" if getattr(step_fn, "traced", 1) else "loaded"
source = "prefetched" if getattr(step_fn, "prefetched", False) else source
print(json.dumps({
    "import jax": t_jax - t0, "import jacwrap": t_jacwrap - t_jax,
    "import playground": t_pg - t_jacwrap, "build env": t_env - t_pg,
    "EnvBatch": t_batch - t_env, "reset": t_reset - t_batch, "first step": t_step - t_reset,
    "source": source, "total": total,
}))
"""

STAGES = ("import jax", "import jacwrap", "import playground", "build env", "EnvBatch")
STAGES += ("reset", "first step")


def run_once(name: str, batch: int, cache: str, step_cache: bool) -> dict:
    """One fresh process; returns its stage times and ``total``, the wall time from just
    before the process was started to the first step's results (its exit not included)."""
    environ = {**os.environ, "JACWRAP_CACHE_DIR": cache}
    environ.pop("JACWRAP_STEP_CACHE_DIR", None)
    if not step_cache:
        environ["JACWRAP_STEP_CACHE_DIR"] = ""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, name, str(batch), repr(time.time())],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(label: str, r: dict) -> str:
    stages = " | ".join(f"{r[s]:.2f}" for s in STAGES)
    load = os.getloadavg()[0]
    return f"| {label} | **{r['total']:.2f}** | {stages} | {r['source']} | {load:.1f} |"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="CheetahRun")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2, help="warm runs of each kind")
    ap.add_argument(
        "--no-before", action="store_true", help="skip the warm runs without the step cache"
    )
    args = ap.parse_args(argv)
    print(
        f"# startup: {args.env}, batch {args.batch}, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} cores"
    )
    print()
    print(f"| run | total (s) | {' | '.join(STAGES)} | step | load avg (1 min) |")
    print("|---" * (len(STAGES) + 4) + "|")
    with tempfile.TemporaryDirectory() as cache:
        print(row("cold", run_once(args.env, args.batch, cache, True)), flush=True)
        for _ in range(args.repeats):
            print(row("warm", run_once(args.env, args.batch, cache, True)), flush=True)
        if not args.no_before:
            run_once(args.env, args.batch, cache, False)  # fills the compile cache for jax.jit
            for _ in range(args.repeats):
                r = run_once(args.env, args.batch, cache, False)
                print(row("warm, no step cache", r), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
