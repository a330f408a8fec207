"""Where units run: in this process, one after another (``local``), or as Ray tasks (``ray``).

Both take the pending units in plan order, start a unit only once the units it depends on
have finished, and report each finished unit through ``on_done`` as soon as it finishes (the
driver records it in the manifest then). A unit that raises stops the run with
:class:`~jacwrap.reproduce.errors.UnitFailedError`; what finished before stays recorded.

The Ray executor runs :func:`jacwrap.reproduce.units.run_unit` as a Ray task of one CPU
per unit (recording shards with one env process each, so that Ray spreads the shards over
the cluster's cores); the run's folder must be on a filesystem every worker shares.
``ray.init(address=...)`` joins a cluster; without an address it starts a local instance,
or uses the one this process already started.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from jacwrap.reproduce.errors import ExecutorError, UnitFailedError
from jacwrap.reproduce.units import Unit, UnitResult, run_unit

OnStart = Callable[[Unit], None]
OnDone = Callable[[Unit, UnitResult], None]
EXECUTORS = ("local", "ray")


class Executor(Protocol):
    name: str

    def run(self, units: Sequence[Unit], out: Path, config: Any, on_start: OnStart,
            on_done: OnDone) -> None: ...  # fmt: skip


def _failure(unit: Unit, exc: BaseException) -> UnitFailedError:
    return UnitFailedError(unit.id, f"{type(exc).__name__}: {exc}")


class LocalExecutor:
    """Runs the units in this process, in plan order; recordings use ``workers`` processes."""

    name = "local"

    def __init__(self, workers: int = 2):
        self.workers = workers

    def run(self, units, out, config, on_start, on_done) -> None:
        for unit in units:
            on_start(unit)
            try:
                result = run_unit(unit, out, config, self.workers)
            except Exception as exc:
                raise _failure(unit, exc) from exc
            on_done(unit, result)


class RayExecutor:
    """Runs every unit as a Ray task (one CPU each) once its dependencies have finished."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        """Checks that Ray is installed (before a run writes anything)."""
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise ExecutorError(
                "--executor ray needs Ray: pip install 'jacwrap[ray]' (or ray>=2.9)"
            ) from exc
        self.address = address
        self.num_cpus = num_cpus

    def _init(self):
        import ray

        if ray.is_initialized():
            return ray, False
        env = {k: os.environ[k] for k in ("JACWRAP_CACHE_DIR",) if k in os.environ}
        kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False}
        try:
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, **kwargs)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ...
            where = self.address or "a local instance"
            raise ExecutorError(f"cannot start Ray on {where}: {exc}") from exc
        return ray, True

    def run(self, units, out, config, on_start, on_done) -> None:
        ray, started = self._init()
        try:
            self._run(ray, list(units), Path(out).resolve(), config, on_start, on_done)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, units, out, config, on_start, on_done) -> None:
        task = ray.remote(num_cpus=1, max_retries=0)(run_unit)
        waiting = {u.id for u in units}
        by_id = {u.id: u for u in units}
        running: dict[Any, Unit] = {}

        def submit_ready() -> None:
            busy = waiting | {r.id for r in running.values()}
            for u in units:
                if u.id in waiting and not any(d in busy for d in u.deps):
                    waiting.discard(u.id)
                    on_start(u)
                    running[task.remote(u, str(out), config, 1)] = u

        submit_ready()
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            unit = running.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:
                for r in running:
                    ray.cancel(r, force=True)
                raise _failure(by_id[unit.id], exc) from exc
            on_done(unit, result)
            submit_ready()


def make_executor(name: str, *, workers: int = 2, address: str | None = None) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``)."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address)
    raise ExecutorError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
