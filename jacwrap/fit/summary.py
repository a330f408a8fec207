"""The fit summary: one JSON file per (loss mode, seed), its schema, and where to find it.

A summary sits by default in ``<recording stem>.fits/`` next to the (first) recording it was
fitted on, as ``<mode>[-residual]-seed<k>.json`` beside the model ``<same name>.npz``; the
terminal app calls :func:`find_fit_summaries` with the recording's path. docs/FIT.md
documents every field. Non-finite numbers are written as ``null``.

Schema ``jacwrap.fit-summary`` version 1 (top-level keys):
``schema, schema_version, loss_mode, seed, residual, env_name, n, m, recordings, created,
versions, config, data, learned_threshold, target_sparsity, initial, final, history, timing,
model_file``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jacwrap.errors import JacwrapError
from jacwrap.fit.losses import LOSS_MODES
from jacwrap.sparsity import SPARSITY_KINDS

SCHEMA = "jacwrap.fit-summary"
SCHEMA_VERSION = 1

#: Per-epoch series in ``history`` (all of the same length, one entry per epoch).
HISTORY_KEYS = (
    "epoch",
    "train_loss",
    "train_mse",
    "train_jacobian_term",
    "test_mse",
    "test_sparsity",
    "test_jacobian_mse",
    "epoch_s",
    "samples_per_s",
)
#: Keys of ``initial`` and ``final`` (metrics on the whole test set).
METRIC_KEYS = (
    "test_mse",
    "test_jacobian_mse",
    "test_jacobian_mae",
    "test_jacobian_mae_on_zeros",
    "sparsity",
)
DATA_KEYS = ("num_samples", "num_train", "num_test", "dropped_nonfinite", "recording_threshold")
TIMING_KEYS = ("wall_s", "compile_s", "train_s", "samples_per_s")


class FitSummaryError(JacwrapError, ValueError):
    """A fit summary that does not follow the schema; the message names the file and field."""


@dataclass
class FitSummary:
    """A validated fit summary (``raw`` is the JSON dict); ``path`` is where it was read/written."""

    raw: dict[str, Any]
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self):
        problems = validate_summary_dict(self.raw)
        if problems:
            where = f"{self.path}: " if self.path else ""
            raise FitSummaryError(f"{where}invalid fit summary: {'; '.join(problems)}")

    @property
    def loss_mode(self) -> str:
        return self.raw["loss_mode"]

    @property
    def seed(self) -> int:
        return self.raw["seed"]

    @property
    def residual(self) -> bool:
        return self.raw["residual"]

    @property
    def env_name(self) -> str:
        return self.raw["env_name"]

    @property
    def epochs(self) -> int:
        return len(self.raw["history"]["epoch"])

    @property
    def test_mse(self) -> float:
        """Final test next-state MSE in normalised units."""
        return _num(self.raw["final"]["test_mse"])

    @property
    def induced_sparsity(self) -> float:
        """Mean combined sparsity of the trained model's Jacobian on the test set."""
        return _num(self.raw["final"]["sparsity"]["combined"])

    @property
    def initial_sparsity(self) -> float:
        return _num(self.raw["initial"]["sparsity"]["combined"])

    @property
    def target_sparsity(self) -> float:
        return _num(self.raw["target_sparsity"]["combined"])

    @property
    def name(self) -> str:
        """File stem: ``<mode>[-residual]-seed<k>``."""
        return summary_stem(self.loss_mode, self.seed, self.residual)

    def model_path(self) -> Path | None:
        """Absolute path of the saved model, when there is one next to the summary."""
        rel = self.raw.get("model_file")
        if not rel or self.path is None:
            return None
        return (self.path.parent / rel).resolve()

    def to_json(self) -> str:
        return json.dumps(_sanitize(self.raw), indent=1, allow_nan=False)


def _num(x) -> float:
    return math.nan if x is None else float(x)


def _sanitize(x):
    """Non-finite floats -> None, tuples -> lists (strict JSON)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _sanitize(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_sanitize(v) for v in x]
    return x


def summary_stem(loss_mode: str, seed: int, residual: bool = False) -> str:
    return f"{loss_mode}{'-residual' if residual else ''}-seed{seed}"


def fits_dir(recording_path: str | Path) -> Path:
    """The default folder of a recording's fits: ``<dir>/<stem>.fits``."""
    p = Path(recording_path)
    return p.parent / f"{p.stem}.fits"


def _is_num(x) -> bool:
    return x is None or (isinstance(x, int | float) and not isinstance(x, bool))


def _check_sparsity(d, where: str, problems: list[str]) -> None:
    if not isinstance(d, dict):
        problems.append(f"{where} must be an object with keys {', '.join(SPARSITY_KINDS)}")
        return
    for k in SPARSITY_KINDS:
        v = d.get(k, "missing")
        if not _is_num(v) or (v is not None and not -1e-12 <= v <= 1 + 1e-12):
            problems.append(f"{where}.{k} must be a number in [0, 1], got {v!r}")


def validate_summary_dict(d: Any) -> list[str]:
    """The list of schema violations of a summary dict (empty when valid)."""
    if not isinstance(d, dict):
        return ["not a JSON object"]
    p: list[str] = []
    if d.get("schema") != SCHEMA:
        p.append(f"schema must be {SCHEMA!r}, got {d.get('schema')!r}")
    if d.get("schema_version") != SCHEMA_VERSION:
        p.append(f"schema_version must be {SCHEMA_VERSION}, got {d.get('schema_version')!r}")
    if d.get("loss_mode") not in LOSS_MODES:
        p.append(f"loss_mode must be one of {', '.join(LOSS_MODES)}, got {d.get('loss_mode')!r}")
    for k in ("seed", "n", "m"):
        if not isinstance(d.get(k), int) or isinstance(d.get(k), bool):
            p.append(f"{k} must be an integer")
    if not isinstance(d.get("residual"), bool):
        p.append("residual must be true or false")
    for k in ("env_name", "created"):
        if not isinstance(d.get(k), str):
            p.append(f"{k} must be a string")
    if not isinstance(d.get("recordings"), list):
        p.append("recordings must be a list of paths")
    for k in ("config", "versions"):
        if not isinstance(d.get(k), dict):
            p.append(f"{k} must be an object")
    for section, keys in (("data", DATA_KEYS), ("timing", TIMING_KEYS)):
        sec = d.get(section)
        if not isinstance(sec, dict):
            p.append(f"{section} must be an object")
            continue
        for k in keys:
            if k not in sec or not _is_num(sec[k]):
                p.append(f"{section}.{k} must be a number")
    if not _is_num(d.get("learned_threshold", "missing")):
        p.append("learned_threshold must be a number")
    _check_sparsity(d.get("target_sparsity"), "target_sparsity", p)
    for section in ("initial", "final"):
        sec = d.get(section)
        if not isinstance(sec, dict):
            p.append(f"{section} must be an object")
            continue
        for k in METRIC_KEYS:
            if k == "sparsity":
                _check_sparsity(sec.get(k), f"{section}.sparsity", p)
            elif not _is_num(sec.get(k, "missing")):
                p.append(f"{section}.{k} must be a number or null")
    hist = d.get("history")
    if not isinstance(hist, dict):
        p.append("history must be an object")
    else:
        lengths = set()
        for k in HISTORY_KEYS:
            v = hist.get(k)
            if not isinstance(v, list) or not all(_is_num(x) for x in v):
                p.append(f"history.{k} must be a list of numbers")
            else:
                lengths.add(len(v))
        if len(lengths) > 1:
            p.append(f"history series differ in length: {sorted(lengths)}")
    mf = d.get("model_file")
    if mf is not None and not isinstance(mf, str):
        p.append("model_file must be a string or null")
    return p


def build_summary(
    *, data, config, num_train, num_test, history, initial, final, target_sparsity, timing
) -> FitSummary:
    """Assemble a summary from the trainer's results (no file written)."""
    import jax
    import numpy as np

    import jacwrap

    raw = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "loss_mode": config.loss_mode,
        "seed": int(config.seed),
        "residual": bool(config.residual),
        "env_name": data.env_name,
        "n": int(data.n),
        "m": int(data.m),
        "recordings": list(data.sources),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {
            "jacwrap": jacwrap.__version__,
            "jax": jax.__version__,
            "numpy": np.__version__,
        },
        "config": config.to_dict(),
        "data": {
            "num_samples": len(data),
            "num_train": int(num_train),
            "num_test": int(num_test),
            "dropped_nonfinite": int(data.dropped_nonfinite),
            "recording_threshold": float(data.threshold),
        },
        "learned_threshold": float(config.learned_threshold),
        "target_sparsity": target_sparsity,
        "initial": initial,
        "final": final,
        "history": history,
        "timing": timing,
        "model_file": None,
    }
    return FitSummary(_sanitize(raw))


def write_summary(summary: FitSummary, path: str | Path) -> Path:
    """Write ``summary`` as JSON to ``path`` (atomically); sets ``summary.path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(summary.to_json() + "\n")
    tmp.replace(path)
    summary.path = path
    return path


def read_summary(path: str | Path) -> FitSummary:
    """Read and validate one summary; raises :class:`FitSummaryError` naming the file."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FitSummaryError(f"{path}: cannot read fit summary ({exc})") from exc
    return FitSummary(raw, path=path)


def _sort_key(s: FitSummary):
    return (LOSS_MODES.index(s.loss_mode), s.residual, s.seed, str(s.path))


def load_summaries(paths, errors: list[str] | None = None) -> list[FitSummary]:
    """Read every summary in ``paths`` (files, or folders scanned for ``*.json``), sorted by
    mode, residual, seed. Unreadable or invalid files are skipped; their messages are appended
    to ``errors`` when given."""
    found: list[FitSummary] = []
    for p in paths:
        p = Path(p)
        files = sorted(p.glob("*.json")) if p.is_dir() else [p]
        for f in files:
            try:
                found.append(read_summary(f))
            except FitSummaryError as exc:
                if errors is not None:
                    errors.append(str(exc))
    return sorted(found, key=_sort_key)


def find_fit_summaries(
    recording_path: str | Path, errors: list[str] | None = None
) -> list[FitSummary]:
    """The valid fit summaries in the recording's default fits folder (empty if none).

    Sorted by loss mode (in :data:`~jacwrap.fit.losses.LOSS_MODES` order), residual, seed.
    Invalid files are skipped; pass a list as ``errors`` to collect their messages.
    """
    d = fits_dir(recording_path)
    if not d.is_dir():
        return []
    return load_summaries([d], errors)
