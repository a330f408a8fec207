"""The per-step record, named once: every field a step carries and every column it is stored as.

Two tables, both in payload order:

- :data:`FIELDS`: what a producer writes for one step (the writer's rows, the recorders'
  and rollouts' arguments), with its per-step shape in the header dims and its dtype, and
  the key of the adapters' ``info`` dicts it comes from (None: not in ``info``).
- :data:`COLUMNS`: the blocks of a chunk payload (docs/FORMAT.md), each with its per-step
  shape, stored dtype and transform (:mod:`jacwrap.recording.codec`). ``terminated``,
  ``truncated`` and ``finite`` share the ``flags`` byte (:data:`FLAG_BITS`); float32
  recordings add ``zero_masks``.

Adding a per-step value is one :class:`Field` here (plus a :class:`Column` if it is stored
in its own block) and its producer; the writer's buffers and the codec's layout follow.

>>> dims = Dims(n=4, m=1, obs_dim=5)
>>> [(c.name, c.shape(dims)) for c in COLUMNS][6]
('jac_state', (4, 4))
>>> field_layout(dims)["sparsity"]
((3,), dtype('float64'))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from jacwrap.sparsity import SPARSITY_KINDS


@dataclass(frozen=True)
class Dims:
    """The header dims a per-step shape is written in: state n, action m, observation."""

    n: int
    m: int
    obs_dim: int


Shape = Callable[[Dims], tuple[int, ...]]


@dataclass(frozen=True)
class Field:
    """One per-step value a producer writes: ``shape(dims)``, ``dtype`` and its ``info`` key."""

    name: str
    shape: Shape
    dtype: np.dtype
    info_key: str | None
    doc: str


@dataclass(frozen=True)
class Column:
    """One block of a chunk payload: per-step ``shape(dims)``, stored dtype, transform.

    ``dtype64``/``dtype32`` are the stored dtypes in float64 / float32 recordings (None: the
    column is absent there).
    """

    name: str
    shape: Shape
    dtype64: str | None
    dtype32: str | None
    transform: str


def _scalar(d: Dims) -> tuple[int, ...]:
    return ()


FIELDS: tuple[Field, ...] = (
    Field("obs", lambda d: (d.obs_dim,), np.dtype(np.float32), None, "observation acted on"),
    Field("action", lambda d: (d.m,), np.dtype(np.float64), None, "action a"),
    Field("reward", _scalar, np.dtype(np.float64), None, "reward of the step"),
    Field("terminated", _scalar, np.dtype(bool), None, "episode ended by the task"),
    Field("truncated", _scalar, np.dtype(bool), None, "episode cut at its length"),
    Field("state", lambda d: (d.n,), np.dtype(np.float64), "state", "s before the step"),
    Field("next_state", lambda d: (d.n,), np.dtype(np.float64), "next_state", "s' after it"),
    Field("jac_state", lambda d: (d.n, d.n), np.dtype(np.float64), "jac_state", "ds'/ds"),
    Field("jac_action", lambda d: (d.n, d.m), np.dtype(np.float64), "jac_action", "ds'/da"),
    Field(
        "sparsity",
        lambda d: (len(SPARSITY_KINDS),),
        np.dtype(np.float64),
        "sparsity",
        "share of zeros in J_s, J_a, [J_s|J_a] (info: a dict by kind)",
    ),
    Field("finite", _scalar, np.dtype(bool), "jac_finite", "no NaN/inf in the Jacobians"),
)

#: Bits of the ``flags`` column.
FLAG_BITS: dict[str, int] = {"terminated": 0, "truncated": 1, "finite": 2}

#: Payload order; ``T`` = element-major (each element's time series contiguous), chosen by
#: measurement on CheetahRun rollouts (docs/FORMAT.md).
COLUMNS: tuple[Column, ...] = (
    Column("obs", lambda d: (d.obs_dim,), "<f4", "<f4", "T+shuffle"),
    Column("action", lambda d: (d.m,), "<f8", "<f8", "shuffle"),
    Column("reward", _scalar, "<f8", "<f8", "raw"),
    Column("flags", _scalar, "u1", "u1", "raw"),
    Column("state", lambda d: (d.n,), "<f8", "<f8", "xor-prev-next_state+shuffle"),
    Column("next_state", lambda d: (d.n,), "<f8", "<f8", "T+shuffle"),
    Column("jac_state", lambda d: (d.n, d.n), "<f8", "<f4", "xor-delta+T+shuffle"),
    Column("jac_action", lambda d: (d.n, d.m), "<f8", "<f4", "xor-delta+T+shuffle"),
    Column("sparsity", lambda d: (len(SPARSITY_KINDS),), "<f8", "<f8", "raw"),
    Column(
        "zero_masks", lambda d: ((d.n * (d.n + d.m) + 7) // 8,), None, "u1", "packbits+xor-delta"
    ),
)


def column_specs(dims: Dims, jac_dtype: str) -> list[tuple[str, tuple, str]]:
    """(name, per-step shape, stored dtype) of every column of a ``jac_dtype`` recording."""
    out = []
    for c in COLUMNS:
        dtype = c.dtype64 if jac_dtype == "float64" else c.dtype32
        if dtype is not None:
            out.append((c.name, c.shape(dims), dtype))
    return out


def field_layout(dims: Dims) -> dict[str, tuple[tuple, np.dtype]]:
    """name -> (per-step shape, dtype) of every :data:`FIELDS` entry (the writer's rows)."""
    return {f.name: (f.shape(dims), f.dtype) for f in FIELDS}


def info_columns(info: dict) -> dict[str, np.ndarray]:
    """The fields an adapter's ``info`` holds (one env's or a vector env's batched one)."""
    out = {}
    for f in FIELDS:
        if f.info_key is None:
            continue
        value = info[f.info_key]
        if f.name == "sparsity":  # a dict by kind -> (..., 3)
            value = np.stack([np.asarray(value[k], np.float64) for k in SPARSITY_KINDS], -1)
        out[f.name] = value
    return out


def step_columns(step: Any) -> dict[str, np.ndarray]:
    """The same fields from a :class:`jacwrap.batch.BatchStep` (its attributes share the names)."""
    return {f.name: getattr(step, f.name) for f in FIELDS if f.info_key is not None}
