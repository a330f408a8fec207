"""A batch of environments split over worker processes: how several CPU cores get used.

On CPU, one XLA computation runs on about one core, and splitting a batch over several
JAX host devices was measured unusable here (sharded compile of the CheetahRun Jacobian step
> 200 s; see BENCHMARKS.md). :class:`ProcessEnvBatch` instead runs one
:class:`jacwrap.batch.EnvBatch` per worker process (``workers`` of them, each with a
contiguous slice of the envs, pinned to a core of its own), steps them concurrently and joins the
results. It has the interface of :class:`~jacwrap.batch.EnvBatch`, and env i gets exactly
the seeds and actions it would get in a single process, so the results are the same.
Compiles are shared through the persistent compilation cache.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
from typing import Any

import numpy as np

from jacwrap.batch import BatchStep, check_actions
from jacwrap.envs import EnvInfo
from jacwrap.errors import JacwrapError
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD


class WorkerError(JacwrapError, RuntimeError):
    """A worker process failed; the message carries its exception."""


def pin_to_one_core(index: int = 0) -> None:
    """Run this process on its allowed CPU ``index`` (modulo their number); call before JAX
    starts. XLA sizes its thread pools to the CPUs a process may use, and pools that span
    every core fight each other across processes. No XLA flag changes: a worker's compiled
    programs are those of an unpinned process, so each serves the other from the compile
    cache (turning Eigen's threads off as well gained nothing, BENCHMARKS.md)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[index % len(cpus)]})


def _worker(conn, index: int, name: str, overrides: dict, num_envs: int, kwargs: dict) -> None:
    pin_to_one_core(index)  # one core per worker, before JAX starts
    try:
        from jacwrap.batch import EnvBatch
        from jacwrap.envs import describe, load_playground

        env = load_playground(name, **overrides)
        batch = EnvBatch(env, describe(env, name), num_envs, **kwargs)
        conn.send(("ok", batch.obs_dim))
    except Exception as exc:  # report, then exit
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        cmd, arg = conn.recv()
        if cmd == "close":
            return
        try:
            if cmd == "reset":
                out: Any = batch.reset(arg)
            elif cmd == "step":
                out = (batch.step(arg), batch.last_episode_length, batch.episode_steps)
            else:
                raise ValueError(f"unknown command {cmd!r}")
            conn.send(("ok", out))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ProcessEnvBatch:
    """``num_envs`` envs of a registered task stepped by ``workers`` processes in parallel."""

    def __init__(
        self,
        name: str,
        info: EnvInfo,
        num_envs: int,
        *,
        workers: int = 2,
        jacobians: bool = True,
        threshold: float = GROUND_TRUTH_THRESHOLD,
        autoreset: bool = True,
        config_overrides: dict | None = None,
    ):
        if workers < 2 or workers > num_envs:
            raise ValueError(f"workers must be in 2..num_envs={num_envs}, got {workers}")
        self.info = info
        self.num_envs = num_envs
        self.jacobians = jacobians
        self.threshold = float(threshold)
        self.autoreset = autoreset
        self.workers = workers
        bounds = np.linspace(0, num_envs, workers + 1).round().astype(int)
        self._slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        ctx = mp.get_context("spawn")
        kwargs = {"jacobians": jacobians, "threshold": threshold, "autoreset": autoreset}
        self._conns = []
        self._procs = []
        for index, sl in enumerate(self._slices):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_worker,
                args=(child, index, name, dict(config_overrides or {}), sl.stop - sl.start, kwargs),
                daemon=True,
            )
            proc.start()
            self._conns.append(parent)
            self._procs.append(proc)
        self.obs_dim: int = self._gather()[0]  # every worker traced its own reset for it
        self._s: np.ndarray | None = None
        self.last_episode_length = np.zeros(num_envs, dtype=np.int64)
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self.last_obs: np.ndarray | None = None
        self.last_step: BatchStep | None = None

    def _gather(self) -> list[Any]:
        out = []
        for i, conn in enumerate(self._conns):
            try:
                status, value = conn.recv()
            except EOFError as exc:
                proc = self._procs[i]
                proc.join(timeout=1)
                raise WorkerError(
                    f"{self.info.name}: worker {i} died (exit code {proc.exitcode}); workers "
                    "are spawned processes that import the main module again, so a script "
                    "that starts them must do so under `if __name__ == '__main__':`"
                ) from exc
            if status != "ok":
                raise WorkerError(f"{self.info.name}: worker {i}: {value}")
            out.append(value)
        return out

    @property
    def state(self) -> np.ndarray:
        if self._s is None:
            raise RuntimeError("call reset() before step()")
        return self._s

    @property
    def episode_steps(self) -> np.ndarray:
        return self._steps.copy()

    def reset(self, seeds: list[int | None]) -> tuple[np.ndarray, np.ndarray]:
        if len(seeds) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        for conn, sl in zip(self._conns, self._slices, strict=True):
            conn.send(("reset", list(seeds[sl])))
        parts = self._gather()
        obs = np.concatenate([p[0] for p in parts])
        self._s = np.concatenate([p[1] for p in parts])
        self._steps[:] = 0
        self.last_obs, self.last_step = obs, None
        return obs.copy(), self._s.copy()

    def check_actions(self, actions: Any) -> np.ndarray:
        return check_actions(self.info, self.num_envs, actions)

    def step(self, actions: Any) -> BatchStep:
        act = self.check_actions(actions)
        for conn, sl in zip(self._conns, self._slices, strict=True):
            conn.send(("step", act[sl]))
        parts = self._gather()
        steps = [p[0] for p in parts]
        self.last_episode_length = np.concatenate([p[1] for p in parts])
        self._steps = np.concatenate([p[2] for p in parts])
        fields = {}
        for key in BatchStep.__dataclass_fields__:
            values = [getattr(s, key) for s in steps]
            fields[key] = None if values[0] is None else np.concatenate(values)
        out = BatchStep(**fields)
        self._s = out.reset_state
        self.last_obs, self.last_step = out.obs, out
        return out

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers: each is asked to exit, and those still running ``timeout``
        seconds later (all together, e.g. one still compiling its unrolled step in the
        background) are terminated."""
        for conn in self._conns:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send(("close", None))
        deadline = time.monotonic() + timeout
        for proc in self._procs:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
        self._conns, self._procs = [], []

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
