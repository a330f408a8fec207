"""Training speed of the MLP fits (``jacwrap fit``) at CheetahRun shape, per loss mode.

Run: ``.venv/bin/python -m bench.bench_fit [--steps 10] [--jacobian-batch 128]``.

Synthetic CheetahRun-shaped data (n = 18, m = 6; Jacobians with about half of their
entries zero), the paper's model (2 x 512 ELU, dropout 0.1) and batch 512. Timed, after
compiling: ``--steps`` calls of the trainer's own jitted training step per loss mode
(samples/s), plus, once with ``--jacobian-batch K``, the Jacobian term computed on K of the
512 samples. Then the per-epoch evaluation (float64: next-state MSE of 10,000 test samples
and Jacobian metrics of 1,024) and the initial/final metrics of the whole test set.
Extrapolated: 100 epochs on 100k samples (90k train -> 176 steps per epoch, 10k test).

Wall and CPU time are both shown: XLA appears to run these steps on one thread (the CPU
time per step matches the wall time measured on a quiet machine), so on a busy shared
machine the CPU time per step is the better estimate of the uncontended wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from jacwrap._jax_setup import configure_jax
from jacwrap.fit.data import FitData, split_indices
from jacwrap.fit.losses import LOSS_MODES
from jacwrap.fit.model import NormArrays, init_params
from jacwrap.fit.normalize import Normalization
from jacwrap.fit.train import FitConfig, SplitArrays, _compiled_step, _Evaluator, _optimizer

N, M, BATCH = 18, 6, 512
PAPER_SAMPLES, PAPER_EPOCHS = 100_000, 100


def synthetic(num: int, seed: int = 0) -> FitData:
    """CheetahRun-shaped transitions with random Jacobians (about half of the entries zero)."""
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(num, N))
    a = rng.uniform(-1, 1, size=(num, M))
    w = rng.normal(size=(N, N + M)) / np.sqrt(N + M)
    s_next = s + 0.01 * np.tanh(np.concatenate([s, a], 1) @ w.T)
    jac = rng.normal(size=(num, N, N + M)) * (rng.random((num, N, N + M)) < 0.5)
    return FitData.from_arrays(s, a, s_next, jac[:, :, :N], jac[:, :, N:], env_name="CheetahRun")


def time_step(data: FitData, cfg: FitConfig, steps: int) -> tuple[float, float, float]:
    """(compile s, wall s per training step, CPU s per step) of the trainer's step for ``cfg``."""
    norm = Normalization.fit(data.state, data.action, data.next_state)
    arrays = SplitArrays.build(data, np.arange(len(data)), norm, cfg.residual, jnp.float32)
    norm32 = NormArrays.of(norm, jnp.float32)
    params = init_params(jax.random.PRNGKey(0), N + M, N, cfg.hidden, jnp.float32)
    opt_state = _optimizer(cfg).init(params)
    rng = np.random.default_rng(0)
    idx = [jnp.asarray(rng.choice(len(data), BATCH, replace=False)) for _ in range(steps + 2)]
    w = jnp.ones(BATCH, jnp.float32)
    key = jax.random.PRNGKey(1)
    t0 = time.perf_counter()
    step = _compiled_step(cfg, BATCH, params, opt_state, arrays, norm32, idx[0], w, key)
    compile_s = time.perf_counter() - t0
    for i in range(2):  # warm-up
        params, opt_state, out = step(params, opt_state, arrays, norm32, idx[i], w, key)
    out.block_until_ready()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(steps):
        params, opt_state, out = step(params, opt_state, arrays, norm32, idx[i + 2], w, key)
    out.block_until_ready()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return compile_s, wall / steps, cpu / steps


def time_eval(test: FitData, cfg: FitConfig) -> tuple[tuple, tuple]:
    """(wall, CPU) seconds of one per-epoch evaluation, and of one full-test-set evaluation."""
    norm = Normalization.fit(test.state, test.action, test.next_state)
    arrays = SplitArrays.build(test, np.arange(len(test)), norm, False, jnp.float64)
    ev = _Evaluator(arrays, NormArrays.of(norm, jnp.float64), N, cfg)
    params = init_params(jax.random.PRNGKey(0), N + M, N, cfg.hidden, jnp.float32)
    ev.metrics(params, limit=cfg.epoch_eval_samples), ev.test_mse(params)  # compile
    t0, c0 = time.perf_counter(), time.process_time()
    ev.metrics(params, limit=cfg.epoch_eval_samples)
    ev.test_mse(params)
    per_epoch = (time.perf_counter() - t0, time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    ev.metrics(params)
    return per_epoch, (time.perf_counter() - t0, time.process_time() - c0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="timed steps per mode (default 10)")
    ap.add_argument("--jacobian-batch", type=int, default=128)
    ap.add_argument("--modes", nargs="*", default=list(LOSS_MODES))
    args = ap.parse_args(argv)
    configure_jax()

    data = synthetic(4 * BATCH)
    _, test_idx = split_indices(PAPER_SAMPLES, 0.1, 0)
    test = synthetic(len(test_idx), seed=1)
    steps_per_epoch = -(-(PAPER_SAMPLES - len(test_idx)) // BATCH)
    base = FitConfig()
    per_epoch_eval, full_eval = time_eval(test, base)

    runs = [(m, dataclasses.replace(base, loss_mode=m)) for m in args.modes]
    if args.jacobian_batch and "state-jacobian" in args.modes:
        cfg = dataclasses.replace(
            base, loss_mode="state-jacobian", jacobian_batch=args.jacobian_batch
        )
        runs.append((f"state-jacobian, J on {args.jacobian_batch}/{BATCH}", cfg))

    print(
        f"CheetahRun shape n={N} m={M}, MLP {base.hidden} ELU, batch {BATCH}, float32 training, "
        f"{jax.device_count()} {jax.default_backend()} device(s), {args.steps} timed steps"
    )
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"per-epoch evaluation {per_epoch_eval[0]:.2f} s wall / {per_epoch_eval[1]:.2f} s CPU, "
        f"full test-set metrics {full_eval[0]:.2f} s / {full_eval[1]:.2f} s ({len(test)} samples,"
        " float64)"
    )
    print(
        f"extrapolated: {PAPER_EPOCHS} epochs x {steps_per_epoch} steps on {PAPER_SAMPLES:,} samples"
    )
    print(
        "| loss mode | compile s | ms/step wall | ms/step CPU | samples/s wall | samples/s CPU "
        "| 100 epochs x 100k: wall | CPU |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")

    def total(per_step: float, i: int) -> float:
        epochs = PAPER_EPOCHS * (steps_per_epoch * per_step + per_epoch_eval[i])
        return (epochs + 2 * full_eval[i]) / 60

    for name, cfg in runs:
        compile_s, wall, cpu = time_step(data, cfg, args.steps)
        print(
            f"| {name} | {compile_s:.1f} | {wall * 1e3:.1f} | {cpu * 1e3:.1f} | "
            f"{BATCH / wall:,.0f} | {BATCH / cpu:,.0f} | {total(wall, 0):.1f} min | "
            f"{total(cpu, 1):.1f} min |",
            flush=True,
        )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
