"""The per-step fields every export writes, declared once (name, source, dtype, shape).

Minari episodes hold ``obs``/``action``/``reward``/``terminated``/``truncated`` in their own
fields and the rest as per-step infos; Parquet files hold them all as columns. Either way the
names and shapes come from here. The keys match the wrapper's ``info`` keys (``state``,
``next_state``, ``jac_state``, ``jac_action``, ``sparsity``, ``jac_finite``), so that code
written against the live env reads the exported data unchanged.

Recordings with float32 Jacobians also carry the zero masks computed from the float64 values
(``zero_state``, ``zero_action``); only those exports include them, since for float64 the
masks are ``|J| < threshold`` of the exported values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jacwrap.recording import RecordingHeader
from jacwrap.sparsity import SPARSITY_KINDS


@dataclass(frozen=True)
class Field:
    """One exported per-step value: ``name`` in the export, the ``Steps`` attribute it comes
    from, its dtype and its per-step shape (a function of the header's dimensions)."""

    name: str
    attr: str
    dtype: Callable[[RecordingHeader], np.dtype]
    shape: Callable[[RecordingHeader], tuple[int, ...]]
    doc: str


def _f64(h: RecordingHeader) -> np.dtype:
    return np.dtype(np.float64)


def _jac(h: RecordingHeader) -> np.dtype:
    return np.dtype(h.jac_dtype)


def _bool(h: RecordingHeader) -> np.dtype:
    return np.dtype(bool)


#: The transition itself (Minari's own episode fields).
TRANSITION_FIELDS = (
    Field(
        "obs", "obs", lambda h: np.dtype(np.float32), lambda h: (h.obs_dim,), "observation acted on"
    ),
    Field("action", "action", _f64, lambda h: (h.m,), "action a"),
    Field("reward", "reward", _f64, lambda h: (), "reward"),
    Field("terminated", "terminated", _bool, lambda h: (), "episode terminated (NaN state)"),
    Field("truncated", "truncated", _bool, lambda h: (), "episode truncated (time limit)"),
)

#: The Jacobian side of a step (Minari infos; the wrapper's info keys).
JACOBIAN_FIELDS = (
    Field("state", "state", _f64, lambda h: (h.n,), "s = (qpos, qvel) before the step"),
    Field("next_state", "next_state", _f64, lambda h: (h.n,), "s' after the step"),
    Field("jac_state", "jac_state", _jac, lambda h: (h.n, h.n), "J_s = ds'/ds, rows s'"),
    Field("jac_action", "jac_action", _jac, lambda h: (h.n, h.m), "J_a = ds'/da, rows s'"),
    Field("jac_finite", "finite", _bool, lambda h: (), "every Jacobian entry finite"),
)

#: Only for float32 Jacobians: the zero masks of the float64 values.
MASK_FIELDS = (
    Field("zero_state", "zero_state", _bool, lambda h: (h.n, h.n), "|J_s| < threshold (float64)"),
    Field("zero_action", "zero_action", _bool, lambda h: (h.n, h.m), "|J_a| < threshold (float64)"),
)


def jacobian_fields(header: RecordingHeader) -> tuple[Field, ...]:
    """The Jacobian-side fields of a recording (the masks only for float32 Jacobians)."""
    return JACOBIAN_FIELDS + (MASK_FIELDS if header.jac_dtype == "float32" else ())


def sparsity_columns(sparsity: np.ndarray) -> dict[str, np.ndarray]:
    """(k, 3) sparsity as {"state": (k,), "action": (k,), "combined": (k,)} (float64)."""
    sp = np.asarray(sparsity, dtype=np.float64)
    return {kind: sp[:, i] for i, kind in enumerate(SPARSITY_KINDS)}
