"""``DIR/manifest.json``: which units of a run are done, and the run's provenance.

The manifest is rewritten atomically (temporary file, then ``os.replace``) each time a unit
finishes, so it always describes finished units only. It holds the command lines of every
session of the run, the settings and seeds, the software versions (jacwrap, jax, mujoco,
mujoco-mjx, playground), the machine, the timing of every unit and the sha256 of every file a
unit wrote (every recording among them). Schema ``jacwrap.reproduce-manifest`` version 1::

    {"schema", "schema_version", "run_id", "created", "config", "seeds", "versions",
     "machine", "sessions": [{"started", "command", "executor", "resume", "units_run",
     "finished"}], "units": {unit id: {"kind", "task", "seconds", "finished", "host",
     "files": {path: sha256}, "steps", "data"}}, "report": {...} | null}
"""

from __future__ import annotations

import json
import os
import platform
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from jacwrap.reproduce.errors import ManifestError, RunExistsError

SCHEMA = "jacwrap.reproduce-manifest"
SCHEMA_VERSION = 1
NAME = "manifest.json"
#: Distributions whose versions a run records.
VERSIONED = ("jacwrap", "jax", "jaxlib", "mujoco", "mujoco-mjx", "playground", "numpy",
             "stable-baselines3", "torch")  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str | None]:
    """Installed versions of the packages the results depend on (None: not installed)."""
    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine() -> dict[str, Any]:
    """Host, platform, Python and CPU count of the driver's machine."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"host": platform.node(), "platform": platform.platform(),
            "machine": platform.machine(), "python": platform.python_version(),
            "cpus": cpus}  # fmt: skip


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` through a temporary file and ``os.replace``."""
    from jacwrap.reproduce.units import partial_path

    tmp = partial_path(path)
    tmp.write_text(json.dumps(obj, indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)


@dataclass
class Manifest:
    """The manifest of one run folder (``raw`` is the JSON object)."""

    path: Path
    raw: dict[str, Any]

    @classmethod
    def create(cls, out: Path, config: dict, seeds: dict, command: list[str]) -> Manifest:
        """A new run's manifest (not yet written)."""
        raw = {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "run_id": uuid.uuid4().hex,
            "created": _now(),
            "config": config,
            "seeds": seeds,
            "versions": versions(),
            "machine": machine(),
            "sessions": [],
            "units": {},
            "report": None,
        }
        return cls(out / NAME, raw)

    @classmethod
    def load(cls, out: Path) -> Manifest:
        """Read ``out/manifest.json``; :class:`ManifestError` if it is not a run manifest."""
        path = out / NAME
        try:
            raw = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"{path}: cannot read the run manifest ({exc})") from exc
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
            raise ManifestError(f"{path}: not a jacwrap reproduce manifest")
        if raw.get("schema_version") != SCHEMA_VERSION:
            raise ManifestError(
                f"{path}: manifest version {raw.get('schema_version')} (this jacwrap reads "
                f"{SCHEMA_VERSION}); start a new run in another folder"
            )
        return cls(path, raw)

    @classmethod
    def open_for(cls, out: Path, config: dict, seeds: dict, command: list[str],
                 resume: bool) -> Manifest:  # fmt: skip
        """The manifest a run continues (``resume``) or starts; refuses another run's folder.

        Without ``resume`` a folder that holds a manifest is refused
        (:class:`RunExistsError`); with it, the manifest's settings must equal ``config``
        (:class:`ManifestError` lists the differences). Nothing is written here.
        """
        exists = (out / NAME).exists()
        if exists and not resume:
            raise RunExistsError(
                f"{out} holds another run (its {NAME}); pass --resume to continue it, or "
                "choose another --out"
            )
        if not exists:
            return cls.create(out, config, seeds, command)
        m = cls.load(out)
        diff = [k for k in sorted(set(config) | set(m.raw["config"]))
                if config.get(k) != m.raw["config"].get(k)]  # fmt: skip
        if diff:
            detail = ", ".join(
                f"{k}: {m.raw['config'].get(k)!r} there, {config.get(k)!r} now" for k in diff
            )
            raise ManifestError(
                f"{m.path}: --resume needs the run's own settings; they differ in {detail}"
            )
        return m

    # -- units ---------------------------------------------------------------------------
    def done(self, out: Path) -> set[str]:
        """Ids of the units recorded as finished whose files are all still there."""
        return {
            uid
            for uid, u in self.raw["units"].items()
            if all((out / p).is_file() for p in u.get("files", {}))
        }

    def begin_session(self, command: list[str], executor: str, resume: bool) -> None:
        self.raw["sessions"].append({"started": _now(), "command": command,
                                     "executor": executor, "resume": resume,
                                     "units_run": 0, "finished": None})  # fmt: skip
        self.save()

    def unit_done(self, unit: Any, result: Any) -> None:
        """Record a finished unit (its files, time, data) and write the manifest."""
        self.raw["units"][unit.id] = {"kind": unit.kind, "task": unit.task,
                                      "finished": _now(), **result.to_dict()}  # fmt: skip
        self.raw["sessions"][-1]["units_run"] += 1
        self.save()

    def end_session(self, report: dict | None) -> None:
        self.raw["sessions"][-1]["finished"] = _now()
        if report is not None:
            self.raw["report"] = report
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, _strict(self.raw))


def _strict(x: Any) -> Any:
    """NaN/inf -> None (strict JSON)."""
    if isinstance(x, float):
        return x if x == x and abs(x) != float("inf") else None
    if isinstance(x, dict):
        return {str(k): _strict(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_strict(v) for v in x]
    return x
