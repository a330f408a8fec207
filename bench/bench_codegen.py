"""XLA CPU fusion emitters on (XLA's default) vs off (jacwrap's default), side by side.

``jacwrap._jax_setup`` turns XLA's CPU fusion emitters off: with them, MJX's kinematics along
SwimmerSwimmer6's 8-body chain compiles into fusions that recompute shared subexpressions,
and the step runs tens of times slower. Each row runs both settings in fresh processes
(flags are read when JAX's CPU backend starts) with a fresh compile cache, and reports plain
and Jacobian steps/s through :class:`jacwrap.batch.EnvBatch`, their ratio, and how far the
Jacobians of the same states differ between the two builds (max |difference| and whether
the exact-zero pattern is identical).

    python -m bench.bench_codegen [--envs CartpoleBalance CheetahRun SwimmerSwimmer6] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from bench.fresh import run_fresh

_RUN = r"""
import json, sys, time
import numpy as np
from jacwrap.batch import EnvBatch
from jacwrap.envs import describe, load_playground
name, batch, seconds, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
env = load_playground(name)
info = describe(env, name)
acts = np.random.default_rng(0).uniform(-1, 1, (16, batch, env.action_size))
rates = {}
for jac in (False, True):
    b = EnvBatch(env, info, batch, jacobians=jac)
    b.reset(list(range(batch)))
    first = b.step(acts[0])
    if jac:
        np.savez(out, jac_state=first.jac_state, jac_action=first.jac_action)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        b.step(acts[n % 16])
        n += 1
    rates["jacobian" if jac else "plain"] = n * batch / (time.perf_counter() - t0)
print(json.dumps(rates))
"""


def run(env: str, batch: int, seconds: float, emitters: bool, out: Path) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        flags = " ".join(  # the user's flags, less any setting of the one compared here
            f
            for f in os.environ.get("XLA_FLAGS", "").split()
            if not f.startswith("--xla_cpu_use_fusion_emitters")
        )
        flag = f"--xla_cpu_use_fusion_emitters={'true' if emitters else 'false'}"
        environ = {**os.environ, "JACWRAP_CACHE_DIR": cache, "XLA_FLAGS": f"{flags} {flag}"}
        return run_fresh(_RUN, [env, batch, seconds, out], environ)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--envs", nargs="+", default=["CartpoleBalance", "CheetahRun", "SwimmerSwimmer6"]
    )
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args(argv)
    print(f"\n# XLA CPU fusion emitters (batch {args.batch}, steps/s through EnvBatch)\n")
    print(
        "| env | plain, on | plain, off | off/on | Jacobian, on | Jacobian, off | off/on "
        "| max abs diff of J | same zeros |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for env in args.envs:
            on_file, off_file = Path(tmp) / f"{env}-on.npz", Path(tmp) / f"{env}-off.npz"
            on = run(env, args.batch, args.seconds, True, on_file)
            off = run(env, args.batch, args.seconds, False, off_file)
            a, b = np.load(on_file), np.load(off_file)
            diff = max(float(np.abs(a[k] - b[k]).max()) for k in a.files)
            same = all(np.array_equal(a[k] == 0, b[k] == 0) for k in a.files)
            print(
                f"| {env} | {on['plain']:,.0f} | {off['plain']:,.0f} | "
                f"{off['plain'] / on['plain']:.2f}x | {on['jacobian']:,.0f} | "
                f"{off['jacobian']:,.0f} | {off['jacobian'] / on['jacobian']:.2f}x | "
                f"{diff:.1e} | {'yes' if same else 'NO'} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
