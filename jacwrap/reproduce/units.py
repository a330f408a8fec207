"""The units of work of a reproduction, and how each one runs.

* :class:`RecordUnit` - one shard of a task's episodes, recorded with the task's shipped
  expert policy to ``recordings/<Task>/shard<k>.jwr``;
* :class:`AnalysisUnit` - Q1-Q3 of all of a task's shards (``jacwrap analyze``) and the mean
  return of its episodes, in ``analysis/<Task>/``;
* :class:`FitUnit` - one Q4 fit (task x loss mode x seed), ``fits/<Task>/<mode>-seed<k>``.

:func:`run_unit` runs any of them in the calling process (the local executor calls it
directly, the Ray executor in a Ray task) and returns a :class:`UnitResult`. Every unit writes
to ``*.partial`` names first and moves them into place with ``os.replace`` only once it has
finished, so a killed run leaves either a unit's whole output or none of it (and partial
names that :func:`remove_partials` clears).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jacwrap.reproduce.errors import MissingPolicyError

PARTIAL = ".partial"


def policy_dir() -> Path:
    """Where the shipped expert policies are (:func:`jacwrap.policies.policy_dir`)."""
    from jacwrap import policies

    return policies.policy_dir()


def policy_path(task: str) -> Path:
    """The shipped expert policy of ``task``; :class:`MissingPolicyError` when absent."""
    path = policy_dir() / f"{task}.zip"
    if not path.is_file():
        raise MissingPolicyError(
            f"{task}: no shipped expert policy at {path} (train it with `just train {task}`, "
            "or leave the task out of --tasks)"
        )
    return path


@dataclass(frozen=True)
class RecordUnit:
    """Episodes ``shard`` of ``task``: ``episodes`` x ``episode_length`` steps, ``num_envs`` at a
    time, env i seeded ``seed + i``."""

    task: str
    shard: int
    episodes: int
    episode_length: int
    seed: int
    num_envs: int
    kind = "record"
    deps: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"record/{self.task}/shard{self.shard:03d}"

    @property
    def steps(self) -> int:
        return self.episodes * self.episode_length

    @property
    def path(self) -> str:
        """The recording, relative to the run's folder."""
        return f"recordings/{self.task}/shard{self.shard:03d}.jwr"


@dataclass(frozen=True)
class AnalysisUnit:
    """Q1-Q3 and mean returns of all recordings of ``task`` (the units ``records``)."""

    task: str
    records: tuple[str, ...]
    kind = "analysis"

    @property
    def deps(self) -> tuple[str, ...]:
        return self.records

    @property
    def id(self) -> str:
        return f"analysis/{self.task}"

    @property
    def path(self) -> str:
        return f"analysis/{self.task}"


@dataclass(frozen=True)
class FitUnit:
    """One MLP fit of ``task`` with loss ``mode`` and ``seed`` on its recordings ``records``."""

    task: str
    mode: str
    seed: int
    records: tuple[str, ...]
    kind = "fit"

    @property
    def deps(self) -> tuple[str, ...]:
        return self.records

    @property
    def id(self) -> str:
        return f"fit/{self.task}/{self.mode}-seed{self.seed}"

    @property
    def path(self) -> str:
        """The summary (JSON); the model is the same name with ``.npz``."""
        from jacwrap.fit.summary import summary_stem

        return f"fits/{self.task}/{summary_stem(self.mode, self.seed)}.json"


Unit = RecordUnit | AnalysisUnit | FitUnit


@dataclass
class UnitResult:
    """What a finished unit reports: its files (relative path -> sha256), time, steps, data."""

    unit_id: str
    seconds: float
    files: dict[str, str] = field(default_factory=dict)
    steps: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    host: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "files": self.files, "steps": self.steps,
                "data": self.data, "host": self.host}  # fmt: skip


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def partial_path(path: Path) -> Path:
    """Where ``path`` is written before it is moved into place: ``<stem>.partial<suffix>``
    (the suffix kept, so that writers that go by it still work)."""
    return path.with_name(f"{path.stem}{PARTIAL}{path.suffix}")


def remove_partials(out: Path) -> list[Path]:
    """Delete the ``*.partial*`` files and folders a killed run left under ``out``."""
    found = sorted(out.rglob(f"*{PARTIAL}*"), key=lambda p: -len(p.parts))
    for p in found:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return found


@contextlib.contextmanager
def staged(path: Path, directory: bool = False):
    """Yield ``path.partial``; on success move it onto ``path``, on any error delete it."""
    tmp = partial_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tmp.is_dir():
        shutil.rmtree(tmp)
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    if directory and path.is_dir():
        shutil.rmtree(path)
    os.replace(tmp, path)


def run_unit(unit: Unit, out_dir: str | os.PathLike, config: Any, workers: int = 1) -> UnitResult:
    """Run one unit in this process, writing under ``out_dir``; ``config`` is the run's
    :class:`~jacwrap.reproduce.plan.ReproduceConfig`."""
    import platform

    t0 = time.perf_counter()
    out = Path(out_dir)
    if isinstance(unit, RecordUnit):
        result = run_record(unit, out, workers)
    elif isinstance(unit, AnalysisUnit):
        result = run_analysis(unit, out, config)
    else:
        result = run_fit(unit, out, config)
    result.seconds = time.perf_counter() - t0
    result.host = platform.node()
    return result


def run_record(unit: RecordUnit, out: Path, workers: int) -> UnitResult:
    """Record the shard with the task's shipped policy (``workers`` processes share the batch)."""
    from jacwrap.recording import record_rollouts

    final = out / unit.path
    with staged(final) as tmp:
        record_rollouts(
            unit.task,
            policy=str(policy_path(unit.task)),
            episodes=unit.episodes,
            max_steps=unit.episode_length,
            seed=unit.seed,
            num_envs=unit.num_envs,
            workers=max(1, min(workers, unit.num_envs)),
            path=tmp,
            overwrite=True,
        )
    return UnitResult(unit.id, 0.0, files={unit.path: sha256(final)}, steps=unit.steps)


def recording_paths(unit: AnalysisUnit | FitUnit, out: Path) -> list[Path]:
    """The recordings a unit reads, in shard order."""
    return [out / f"recordings/{unit.task}/{rid.rsplit('/', 1)[1]}.jwr" for rid in unit.records]


def episode_returns(paths: list[Path]) -> dict[str, Any]:
    """Returns of the complete episodes of the recordings: count, mean, std, min, max."""
    import numpy as np

    from jacwrap.recording import open_recording

    rets = []
    for p in paths:
        with open_recording(p) as rec:
            rets += [ep.ret for ep in rec.episodes if ep.complete]
    r = np.asarray(rets, np.float64)
    if not r.size:
        return {"episodes": 0, "mean": None, "std": None, "min": None, "max": None}
    return {"episodes": int(r.size), "mean": float(r.mean()), "std": float(r.std()),
            "min": float(r.min()), "max": float(r.max())}  # fmt: skip


def run_analysis(unit: AnalysisUnit, out: Path, config: Any) -> UnitResult:
    """``analyze`` of the task's shards into ``analysis/<Task>``, plus ``returns.json``."""
    from jacwrap.analysis.report import analyze
    from jacwrap.reproduce.errors import ReproduceError

    paths = recording_paths(unit, out)
    final = out / unit.path
    warnings: list[str] = []
    with staged(final, directory=True) as tmp:
        result = analyze(paths, tmp, tsne=config.tsne, seed=config.seed, warn=warnings.append)
        if not result.ok or result.skipped:
            raise ReproduceError(f"{unit.task}: analysis failed: {'; '.join(warnings)}")
        returns = episode_returns(paths)
        (tmp / "returns.json").write_text(json.dumps(returns, indent=2) + "\n")
    files = {
        p.relative_to(out).as_posix(): sha256(p) for p in sorted(final.rglob("*")) if p.is_file()
    }
    return UnitResult(unit.id, 0.0, files=files, data={"returns": returns})


def run_fit(unit: FitUnit, out: Path, config: Any) -> UnitResult:
    """One fit on the first ``fit_samples`` steps of the task's shards: summary + model."""
    from jacwrap.fit.dataset import load_fit_data
    from jacwrap.fit.summary import write_summary
    from jacwrap.fit.train import FitConfig, fit

    data = load_fit_data(recording_paths(unit, out), max_samples=config.fit_samples)
    # Summaries name the recordings relative to the run, so that a moved run still checks.
    data.sources = [str(p.relative_to(out)) for p in recording_paths(unit, out)]
    cfg = FitConfig(
        loss_mode=unit.mode,
        seed=unit.seed,
        epochs=config.fit_epochs,
        batch_size=config.batch_size,
        jacobian_batch=config.jacobian_batch,
    )
    result = fit(data, cfg)
    summary_path = out / unit.path
    model_path = summary_path.with_suffix(".npz")
    with staged(model_path) as tmp:
        result.model.save(tmp)
    result.summary.raw["model_file"] = model_path.name
    with staged(summary_path) as tmp:
        write_summary(result.summary, tmp)
    s = result.summary
    files = {str(p.relative_to(out)): sha256(p) for p in (summary_path, model_path)}
    return UnitResult(
        unit.id,
        0.0,
        files=files,
        data={"test_mse": s.test_mse, "induced_sparsity": s.induced_sparsity,
              "target_sparsity": s.target_sparsity, "initial_sparsity": s.initial_sparsity},
    )  # fmt: skip
