"""Measure what the plan's cost table (:data:`jacwrap.reproduce.costs.MEASURED`) holds.

``python -m jacwrap.reproduce.measure [--tasks T ...]`` records each task twice with its
shipped policy (the same batch and workers as a default-budget shard, two episode lengths),
fits the first samples with the ``state`` mode and a Jacobian mode for 1 and 3 epochs, and
analyses the recording; the differences give the per-step and per-sample-epoch costs, the
intercepts the start-up costs. It prints the rows in the form of ``MEASURED`` (paste them
there, and into BENCHMARKS.md). Uses the public ``record_rollouts``, ``analyze`` and
``fit`` only.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from jacwrap.envs import PAPER_ENVS


def _timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def _line(intercept_slope: tuple[float, float]) -> str:
    return f"{intercept_slope[0]:.1f}, {intercept_slope[1]:.1f}"


def _fit_two(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float]:
    """(intercept, slope per 100k) of the line through two measurements."""
    slope = (y2 - y1) / (x2 - x1)
    return max(0.0, y1 - slope * x1), slope * 100_000


def measure_task(task: str, work: Path, *, num_envs: int, workers: int, lengths, fit_samples: int,
                 jacobian_batch: int) -> dict:  # fmt: skip
    """Start-up and per-100k costs of recording, fitting and analysing ``task``."""
    from jacwrap.analysis.report import analyze
    from jacwrap.fit.dataset import load_fit_data
    from jacwrap.fit.train import FitConfig, fit
    from jacwrap.recording import open_recording, record_rollouts
    from jacwrap.reproduce.units import policy_path

    policy = str(policy_path(task))
    rec_times, steps, paths = [], [], []
    for length in (lengths[0], *lengths):  # the first fills the compile cache
        path = work / f"{task}-{len(paths)}.jwr"
        dt, _ = _timed(
            record_rollouts, task, policy, episodes=num_envs, max_steps=length, seed=0,
            num_envs=num_envs, workers=workers, path=path, overwrite=True,
        )  # fmt: skip
        rec_times.append(dt)
        steps.append(num_envs * length)
        paths.append(path)
    record = _fit_two(steps[1], rec_times[1], steps[2], rec_times[2])
    with open_recording(paths[-1]) as rec:
        bytes_per_step = paths[-1].stat().st_size / rec.num_steps
    data = load_fit_data([paths[-1]], max_samples=fit_samples)
    fits = {}
    for mode in ("state", "state-jacobian"):
        t = []
        for epochs in (1, 1, 3):  # the first compiles the training step
            cfg = FitConfig(loss_mode=mode, epochs=epochs, jacobian_batch=jacobian_batch)
            t.append(_timed(fit, data, cfg)[0])
        per = len(data) * 0.9  # training samples per epoch
        _, slope = _fit_two(per, t[1], 3 * per, t[2])
        fits[mode] = (t[0] - slope * per / 100_000, slope)  # a fresh fit's start: its compile
    _timed(analyze, paths[0:1], work / "a0", tsne=False, warn=lambda m: None)
    a1, _ = _timed(analyze, paths[1:2], work / "a1", tsne=False, warn=lambda m: None)
    a2, _ = _timed(analyze, paths[2:3], work / "a2", tsne=False, warn=lambda m: None)
    analysis = _fit_two(steps[1], a1, steps[2], a2)
    return {"record": record, "bytes": bytes_per_step, "fit": fits, "analysis": analysis}


def main(argv: list[str] | None = None) -> int:
    from jacwrap.reproduce.plan import ReproduceConfig

    default = ReproduceConfig()
    p = argparse.ArgumentParser(prog="python -m jacwrap.reproduce.measure", description=__doc__)
    p.add_argument("--tasks", nargs="+", default=list(PAPER_ENVS))
    p.add_argument("--num-envs", type=int, default=default.num_envs)
    p.add_argument("--workers", type=int, default=default.workers)
    p.add_argument("--lengths", type=int, nargs=2, default=(200, 700))
    p.add_argument("--fit-samples", type=int, default=default.fit_samples)
    p.add_argument("--jacobian-batch", type=int, default=default.jacobian_batch)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jacwrap-measure-") as tmp:
        for task in args.tasks:
            m = measure_task(
                task, Path(tmp), num_envs=args.num_envs, workers=args.workers,
                lengths=args.lengths, fit_samples=args.fit_samples,
                jacobian_batch=args.jacobian_batch,
            )  # fmt: skip
            print(
                f'    "{task}": TaskCost({_line(m["record"])}, {m["bytes"]:.0f}, '
                f"{_line(m['fit']['state'])}, {_line(m['fit']['state-jacobian'])}, "
                f"{_line(m['analysis'])}),",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
