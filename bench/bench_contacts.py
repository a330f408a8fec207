"""Cost of the contact outputs on the Jacobian step, side by side in one run (`just bench`).

For each task, two compiled batched Jacobian steps on the same states and actions: the one
:class:`jacwrap.batch.EnvBatch` runs (with the contact state, :mod:`jacwrap.contacts`) and
the same step with ``contacts=False``. Calls alternate between the two (``--repeats``
rounds of ``--calls`` calls each), so load on the machine hits both alike; reported are
the minimum and median ms per call, the ratios with / without of the minima and of the
medians, and the median of the rounds' own ratios (paired: each round's two timings ran
back to back). Target: at most 1.05.
The states are those after 20 random steps from reset (feet on and off the ground).

The process runs pinned to one core (as ``workers`` run and
as ``bench_stages`` measures); ``--no-pin`` runs it as is.

    python -m bench.bench_contacts [--envs CheetahRun WalkerRun] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def compiled_pair(name: str, batch: int):
    """(step with contacts, step without, states, actions) for ``name`` at ``batch``."""
    import jax
    import jax.numpy as jnp

    from jacwrap.batch import compiled_batch
    from jacwrap.envs import load_playground
    from jacwrap.jacobians import jacobian_step
    from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD

    env = load_playground(name)
    fns = compiled_batch(env, batch, jacobians=True, threshold=GROUND_TRUTH_THRESHOLD, shard=False)
    state, _ = fns.reset(jax.vmap(jax.random.PRNGKey)(jnp.arange(batch, dtype=jnp.uint32)))
    rng = np.random.default_rng(0)
    acts = [jnp.asarray(rng.uniform(-1, 1, (batch, env.action_size))) for _ in range(21)]
    with_c = fns.step.lower(state, acts[0]).compile()
    for a in acts[:20]:
        state = with_c(state, a).state
    off = jax.jit(
        jax.vmap(lambda s, a: jacobian_step(env, s, a, GROUND_TRUTH_THRESHOLD, contacts=False))
    )
    without = off.lower(state, acts[20]).compile()
    return with_c, without, state, acts[20]


def timed(fn, state, action, calls: int) -> float:
    import jax

    t0 = time.perf_counter()
    for _ in range(calls):
        jax.block_until_ready(fn(state, action))
    return (time.perf_counter() - t0) / calls


def measure(name: str, batch: int, repeats: int, calls: int) -> dict:
    import jax

    with_c, without, state, action = compiled_pair(name, batch)
    contact_rows = int(np.asarray(with_c(state, action).n_contacts).sum())
    for fn in (with_c, without):
        jax.block_until_ready(fn(state, action))
    on, off = [], []
    for _ in range(repeats):
        on.append(timed(with_c, state, action, calls))
        off.append(timed(without, state, action, calls))
    on_ms, off_ms = 1e3 * np.array(on), 1e3 * np.array(off)
    return {
        "on_min": on_ms.min(),
        "off_min": off_ms.min(),
        "on_med": float(np.median(on_ms)),
        "off_med": float(np.median(off_ms)),
        "contacts": contact_rows,
        "paired": float(np.median(on_ms / off_ms)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--envs", nargs="+", default=["CheetahRun", "WalkerRun"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=21, help="alternating rounds")
    ap.add_argument("--calls", type=int, default=5, help="calls per round and step")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    args = ap.parse_args(argv)
    if not args.no_pin:
        from jacwrap.parallel import pin_to_one_core

        pin_to_one_core()

    import jax

    import jacwrap  # noqa: F401  (float64 + cache)

    print(
        f"# Contact outputs on the Jacobian step  {time.strftime('%Y-%m-%d')}  "
        f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
        f"jax {jax.__version__}, batch {args.batch}, "
        f"{'unpinned' if args.no_pin else 'pinned to one core'}"
    )
    print()
    print(
        "| env | n_contacts summed over the batch | ms/call with (min, median) | "
        "without (min, median) | ratio min | ratio median | ratio paired (median) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.envs:
        r = measure(name, args.batch, args.repeats, args.calls)
        print(
            f"| {name} | {r['contacts']} | {r['on_min']:.1f}, {r['on_med']:.1f} | "
            f"{r['off_min']:.1f}, {r['off_med']:.1f} | {r['on_min'] / r['off_min']:.3f} | "
            f"{r['on_med'] / r['off_med']:.3f} | {r['paired']:.3f} |",
            flush=True,
        )
    print()
    print(f"load after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
