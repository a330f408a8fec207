"""Measure what the plan's cost table (:data:`jacwrap.reproduce.costs.MEASURED`) holds.

``python -m jacwrap.reproduce.measure [--tasks T ...]`` records each task with its shipped
policy (the batch and workers of a default-budget shard) at two episode lengths, fits the
first samples with the ``state`` mode and a Jacobian mode for 1 and 3 epochs, and analyses
the recordings; each call is first made once to fill the compile caches. The line through
the two sizes gives a start-up cost and a cost per 100k steps (per 100k training
sample-epochs for fits).

On a shared machine wall time measures the other jobs as much as jacwrap, so every call
is timed by CPU time as well (this process and its reaped worker processes, through
``os.times``), and the printed rows hold the quiet-machine wall time derived from it: CPU
time for what runs in this process, and for the recording the CPU time of this process plus
that of its ``workers`` worker processes divided by their number (they run in parallel,
one core each). The wall times and the load average are printed beside them. Paste the rows
into ``costs.MEASURED`` and BENCHMARKS.md. Uses the public ``record_rollouts``, ``analyze``
and ``fit`` only.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from jacwrap.envs import PAPER_ENVS


def _timed(fn, *args, parallel: int = 1, **kwargs) -> dict[str, float]:
    """Wall, CPU and quiet-machine seconds of one call (see the module docstring)."""
    t0, w0 = os.times(), time.perf_counter()
    fn(*args, **kwargs)
    wall, t1 = time.perf_counter() - w0, os.times()
    own = (t1.user + t1.system) - (t0.user + t0.system)
    children = (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system)
    quiet = own + children / max(1, parallel)
    return {"wall": wall, "cpu": own + children, "quiet": quiet}


def _line(x1: float, t1: dict, x2: float, t2: dict, key: str) -> tuple[float, float]:
    """(intercept, slope per 100k) of the line through two timed sizes."""
    slope = (t2[key] - t1[key]) / (x2 - x1)
    return max(0.0, t1[key] - slope * x1), slope * 100_000


def measure_task(task: str, work: Path, *, num_envs: int, workers: int, lengths, fit_samples: int,
                 jacobian_batch: int) -> dict:  # fmt: skip
    """Start-up and per-100k costs of recording, fitting and analysing ``task``."""
    from jacwrap.analysis.report import analyze
    from jacwrap.fit.dataset import load_fit_data
    from jacwrap.fit.train import FitConfig, fit
    from jacwrap.recording import open_recording, record_rollouts
    from jacwrap.reproduce.units import policy_path

    policy = str(policy_path(task))
    times, steps, paths = [], [], []
    for length in (lengths[0], *lengths):  # the first fills the compile cache
        path = work / f"{task}-{len(paths)}.jwr"
        times.append(_timed(
            record_rollouts, task, policy, episodes=num_envs, max_steps=length, seed=0,
            num_envs=num_envs, path=path, overwrite=True, workers=workers, parallel=workers,
        ))  # fmt: skip
        steps.append(num_envs * length)
        paths.append(path)
    out = {"record": {k: _line(steps[1], times[1], steps[2], times[2], k) for k in times[1]}}
    with open_recording(paths[-1]) as rec:
        out["bytes"] = paths[-1].stat().st_size / rec.num_steps
    data = load_fit_data([paths[-1]], max_samples=fit_samples)
    per = len(data) * 0.9  # training samples per epoch
    for mode in ("state", "state-jacobian"):
        t = [
            _timed(fit, data, FitConfig(loss_mode=mode, epochs=e, jacobian_batch=jacobian_batch))
            for e in (1, 1, 3)  # the first compiles the training step
        ]
        line = {}
        for k in t[0]:
            _, slope = _line(per, t[1], 3 * per, t[2], k)
            line[k] = (t[0][k] - slope * per / 100_000, slope)  # a fresh fit's start: compile
        out[mode] = line
    times = [
        _timed(analyze, [p], work / f"a{i}", tsne=False, warn=lambda m: None)
        for i, p in enumerate(paths)
    ]
    out["analysis"] = {k: _line(steps[1], times[1], steps[2], times[2], k) for k in times[1]}
    return out


def _row(task: str, m: dict, key: str) -> str:
    def f(pair):
        return f"{pair[0]:.1f}, {pair[1]:.1f}"

    return (
        f'    "{task}": TaskCost({f(m["record"][key])}, {m["bytes"]:.0f}, '
        f"{f(m['state'][key])}, {f(m['state-jacobian'][key])}, {f(m['analysis'][key])}),"
    )


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
            print(_row(task, m, "quiet"), flush=True)
            print(f"    # wall, load {os.getloadavg()[0]:.1f}: {_row(task, m, 'wall').strip()}")
            print(f"    # cpu: {_row(task, m, 'cpu').strip()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
