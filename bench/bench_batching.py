"""How to use both CPU cores for the Jacobian step: measured side by side (`just bench`).

Each strategy runs in a fresh process (XLA flags must be set before JAX starts):

- ``default``: one CPU device, XLA's own intra-op threads;
- ``single-thread``: one CPU device, ``--xla_cpu_multi_thread_eigen=false``;
- ``2-devices``: ``jax_num_cpu_devices=2``, the batch sharded over both with
  ``NamedSharding`` (what :class:`jacwrap.batch.EnvBatch` does with several devices);
- ``2-workers``: :class:`jacwrap.parallel.ProcessEnvBatch`, half the batch in each of two
  processes with single-threaded XLA (``make_vec(..., workers=2)``).

Reported: compile time of the first Jacobian step (fresh cache) and Jacobian steps/s.

    python -m bench.bench_batching [--env CheetahRun] [--batches 32 128] [--timeout 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile

from bench.fresh import run_fresh

_RUN = r"""
import json, sys, time
import jax
strategy, name, batch, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if strategy == "2-devices":
    jax.config.update("jax_num_cpu_devices", 2)
import numpy as np
from jacwrap.batch import EnvBatch
from jacwrap.envs import describe, load_playground
from jacwrap.parallel import ProcessEnvBatch
env = load_playground(name)
if strategy == "2-workers":
    b = ProcessEnvBatch(name, describe(env, name), batch, workers=2)
else:
    b = EnvBatch(env, describe(env, name), batch)
b.reset(list(range(batch)))
acts = np.random.default_rng(0).uniform(-1, 1, (16, batch, env.action_size))
t0 = time.perf_counter()
b.step(acts[0])
compile_s = time.perf_counter() - t0
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < seconds:
    b.step(acts[n % 16])
    n += 1
rate = n * batch / (time.perf_counter() - t0)
print(json.dumps({"devices": 2 if strategy == "2-workers" else len(jax.devices()), "compile_s": compile_s, "steps_per_s": rate}))
"""

FLAGS = {
    "default": "",
    "single-thread": "--xla_cpu_multi_thread_eigen=false",
    "2-devices": "",
    "2-workers": "",
}


def run(strategy: str, env: str, batch: int, seconds: float, timeout: float) -> dict | None:
    with tempfile.TemporaryDirectory() as cache:
        environ = {**os.environ, "JACWRAP_CACHE_DIR": cache}
        flags = " ".join(x for x in (os.environ.get("XLA_FLAGS", ""), FLAGS[strategy]) if x)
        environ["XLA_FLAGS"] = flags
        try:
            return run_fresh(_RUN, [strategy, env, batch, seconds], environ, timeout)
        except subprocess.TimeoutExpired:
            return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="CheetahRun")
    ap.add_argument("--batches", nargs="+", type=int, default=[32])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--strategies", nargs="+", default=["default", "single-thread", "2-workers"])
    args = ap.parse_args(argv)
    print(f"\n# Batching strategy on CPU ({args.env}, {os.cpu_count()} cores)\n")
    print("| strategy | batch | devices | compile, fresh cache (s) | Jacobian steps/s |")
    print("|---|---|---|---|---|")
    for batch in args.batches:
        for strategy in args.strategies:
            r = run(strategy, args.env, batch, args.seconds, args.timeout)
            if r is None:
                print(
                    f"| {strategy} | {batch} | - | > {args.timeout:.0f} (timed out) | - |",
                    flush=True,
                )
                continue
            print(
                f"| {strategy} | {batch} | {r['devices']} | {r['compile_s']:.1f} | "
                f"{r['steps_per_s']:,.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
