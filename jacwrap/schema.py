"""The per-step record, named once: every value a step carries and every block it is stored as.

Everything that handles steps derives from the two tables here: the batch's adapters build
their ``info`` dicts from :data:`FIELDS` (:func:`info_of_env`, :func:`info_of_batch`), the
recorders and rollouts hand the same fields to the writer (:func:`step_columns`), the
writer's buffers, the codec's payload layout, the reader's :class:`Steps` and its empty
value follow from them. Adding a per-step value is one :class:`Field` here (plus a
:class:`Block` if it is stored in its own block) and its producer in the batch step.

- :data:`FIELDS`: the values of one step, with their per-step shape in the dims (state
  ``n``, action ``m``, observation ``obs_dim``, contact pairs ``p``), their dtype in
  memory, the ``info`` key the adapters return them under (None: not in ``info``), their
  group (``core`` in every recording; ``contacts`` from format version 2, where recorded)
  and their role: ``step`` values come from the producer; ``derived`` ones are computed
  by the reader (zero masks, episode index, step within the episode).
- :data:`BLOCKS`: the blocks of a chunk payload in payload order (docs/FORMAT.md), each
  with the fields it stores, its stored dtype in float64 and float32 recordings (None:
  absent there) and its lossless transform (:mod:`jacwrap.recording.codec`).

>>> dims = Dims(n=4, m=1, obs_dim=5, p=3)
>>> [(b.name, b.shape(dims)) for b in blocks_of("float64", ("core",))][6]
('jac_state', (4, 4))
>>> [b.name for b in blocks_of("float32", ("core", "contacts"))][-4:]
['contacts', 'contacts_start', 'n_contacts', 'n_constraints']
>>> writer_layout(dims, ("core",))["sparsity"]
((3,), dtype('float64'))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from jacwrap.sparsity import SPARSITY_KINDS


@dataclass(frozen=True)
class Dims:
    """The dims a per-step shape is written in: state n, action m, observation, contact pairs."""

    n: int
    m: int
    obs_dim: int
    p: int = 0


Shape = Callable[[Dims], tuple[int, ...]]

GROUPS: tuple[str, ...] = ("core", "contacts")
"""Field groups: ``core`` is in every recording and step; ``contacts`` (format version 2)
is the contact and constraint state of the step (README, "Choices")."""


@dataclass(frozen=True)
class Field:
    """One per-step value: ``shape(dims)``, in-memory ``dtype``, ``info`` key, group, role.

    ``jacobian`` fields exist only when the batch computes Jacobians (``jacobians=True``).
    """

    name: str
    shape: Shape
    dtype: np.dtype
    info_key: str | None
    doc: str
    group: str = "core"
    role: str = "step"  # "step": written by the producer; "derived": computed by the reader
    jacobian: bool = False


@dataclass(frozen=True)
class Block:
    """One block of a chunk payload: the ``fields`` it stores, stored dtypes, transform.

    ``dtype64``/``dtype32`` are the stored dtypes in float64 / float32 recordings (None:
    the block is absent there). ``shape(dims)`` is the stored per-step shape.
    """

    name: str
    fields: tuple[str, ...]
    shape: Shape
    dtype64: str | None
    dtype32: str | None
    transform: str
    group: str = "core"

    def dtype(self, jac_dtype: str) -> str | None:
        return self.dtype64 if jac_dtype == "float64" else self.dtype32


def _scalar(d: Dims) -> tuple[int, ...]:
    return ()


def _state(d: Dims) -> tuple[int, ...]:
    return (d.n,)


def _pairs(d: Dims) -> tuple[int, ...]:
    return (d.p,)


def _bits(count: Callable[[Dims], int]) -> Shape:
    return lambda d: ((count(d) + 7) // 8,)


_F8, _BOOL, _I4, _I8 = np.dtype(np.float64), np.dtype(bool), np.dtype(np.int32), np.dtype(np.int64)

FIELDS: tuple[Field, ...] = (
    Field("obs", lambda d: (d.obs_dim,), np.dtype(np.float32), None, "observation acted on"),
    Field("action", lambda d: (d.m,), _F8, None, "action a, as the simulator applied it"),
    Field("reward", _scalar, _F8, None, "reward of the step"),
    Field("terminated", _scalar, _BOOL, None, "episode ended by the task (or a blow-up)"),
    Field("truncated", _scalar, _BOOL, None, "episode cut at the task's episode length"),
    Field("state", _state, _F8, "state", "s = concat(qpos, qvel) before the step"),
    Field("next_state", _state, _F8, "next_state", "s' after the step"),
    Field("jac_state", lambda d: (d.n, d.n), _F8, "jac_state", "J_s = ds'/ds", jacobian=True),
    Field("jac_action", lambda d: (d.n, d.m), _F8, "jac_action", "J_a = ds'/da", jacobian=True),
    Field("zero_state", lambda d: (d.n, d.n), _BOOL, None, "|J_s| < threshold", role="derived"),
    Field("zero_action", lambda d: (d.n, d.m), _BOOL, None, "|J_a| < threshold", role="derived"),
    Field(
        "sparsity",
        lambda d: (len(SPARSITY_KINDS),),
        _F8,
        "sparsity",
        "share of zeros in J_s, J_a, [J_s|J_a]; NaN where not finite (info: a dict by kind)",
        jacobian=True,
    ),
    Field("finite", _scalar, _BOOL, "jac_finite", "no NaN/inf in the Jacobians"),
    Field(
        "contacts",
        _pairs,
        _BOOL,
        "contacts",
        "pairs in contact at any physics substep of the step (env_info.contact_pairs)",
        group="contacts",
    ),
    Field(
        "contacts_start",
        _pairs,
        _BOOL,
        "contacts_start",
        "pairs in contact at the step's first substep (the state s)",
        group="contacts",
    ),
    Field(
        "n_contacts",
        _scalar,
        _I4,
        "n_contacts",
        "active contacts, the most over the step's substeps",
        group="contacts",
    ),
    Field(
        "n_constraints",
        _scalar,
        _I4,
        "n_constraints",
        "active constraint rows, the most over the step's substeps",
        group="contacts",
    ),
    Field("episode", _scalar, _I8, None, "episode index of the step", role="derived"),
    Field("t", _scalar, _I8, None, "step within its episode", role="derived"),
)
FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

#: Payload order. ``T`` = element-major (each element's time series contiguous), chosen by
#: measurement on CheetahRun rollouts (docs/FORMAT.md). A ``raw`` block of bool fields is one
#: byte per step, bit j = field j (``flags``: terminated, truncated, finite); float32
#: recordings add the float64 zero masks as packed bits.
BLOCKS: tuple[Block, ...] = (
    Block("obs", ("obs",), lambda d: (d.obs_dim,), "<f4", "<f4", "T+shuffle"),
    Block("action", ("action",), lambda d: (d.m,), "<f8", "<f8", "shuffle"),
    Block("reward", ("reward",), _scalar, "<f8", "<f8", "raw"),
    Block("flags", ("terminated", "truncated", "finite"), _scalar, "u1", "u1", "raw"),
    Block("state", ("state",), _state, "<f8", "<f8", "xor-prev-next_state+shuffle"),
    Block("next_state", ("next_state",), _state, "<f8", "<f8", "T+shuffle"),
    Block("jac_state", ("jac_state",), lambda d: (d.n, d.n), "<f8", "<f4", "xor-delta+T+shuffle"),
    Block("jac_action", ("jac_action",), lambda d: (d.n, d.m), "<f8", "<f4", "xor-delta+T+shuffle"),
    Block("sparsity", ("sparsity",), lambda d: (len(SPARSITY_KINDS),), "<f8", "<f8", "raw"),
    Block(
        "zero_masks",
        ("zero_state", "zero_action"),
        _bits(lambda d: d.n * (d.n + d.m)),
        None,
        "u1",
        "packbits+xor-delta",
    ),
    Block(
        "contacts",
        ("contacts",),
        _bits(lambda d: d.p),
        "u1",
        "u1",
        "packbits+xor-delta",
        "contacts",
    ),
    Block(
        "contacts_start",
        ("contacts_start",),
        _bits(lambda d: d.p),
        "u1",
        "u1",
        "packbits+xor-delta",
        "contacts",
    ),
    Block("n_contacts", ("n_contacts",), _scalar, "<i4", "<i4", "shuffle", "contacts"),
    Block("n_constraints", ("n_constraints",), _scalar, "<i4", "<i4", "shuffle", "contacts"),
)


def blocks_of(jac_dtype: str, groups: Iterable[str]) -> tuple[Block, ...]:
    """The blocks of a ``jac_dtype`` recording holding ``groups``, in payload order."""
    groups = tuple(groups)
    return tuple(b for b in BLOCKS if b.group in groups and b.dtype(jac_dtype) is not None)


def fields_of(groups: Iterable[str]) -> tuple[Field, ...]:
    """Every field of ``groups`` (producer and derived), in table order."""
    groups = tuple(groups)
    return tuple(f for f in FIELDS if f.group in groups)


def writer_fields(groups: Iterable[str]) -> tuple[Field, ...]:
    """The fields a producer writes for one step (the writer's rows)."""
    return tuple(f for f in fields_of(groups) if f.role == "step")


def writer_layout(dims: Dims, groups: Iterable[str]) -> dict[str, tuple[tuple, np.dtype]]:
    """name -> (per-step shape, dtype) of the writer's rows."""
    return {f.name: (f.shape(dims), f.dtype) for f in writer_fields(groups)}


def raw_step_size(dims: Dims, jac_dtype: str, groups: Iterable[str]) -> int:
    """Uncompressed payload bytes of one step."""
    return sum(
        int(np.prod(b.shape(dims), dtype=np.int64)) * np.dtype(b.dtype(jac_dtype)).itemsize
        for b in blocks_of(jac_dtype, groups)
    )


def step_groups(step: Any) -> tuple[str, ...]:
    """The groups a batch step (or :class:`Steps`) carries: ``core`` always, another group
    where its fields are there (not None)."""
    return ("core",) + tuple(
        g
        for g in GROUPS[1:]
        if all(getattr(step, f.name, None) is not None for f in fields_of((g,)))
    )


# -- producers ---------------------------------------------------------------------------------
def step_columns(step: Any, groups: Iterable[str]) -> dict[str, np.ndarray]:
    """The writer's fields of ``groups`` from a batch step (a :class:`jacwrap.batch.BatchStep`,
    whose attributes share the names), but for ``obs``: the step's ``obs`` is the next one."""
    return {f.name: getattr(step, f.name) for f in writer_fields(groups) if f.name != "obs"}


def _info_fields(jacobians: bool, groups: Iterable[str]) -> list[Field]:
    return [
        f
        for f in fields_of(groups)
        if f.info_key is not None and f.role == "step" and (jacobians or not f.jacobian)
    ]


def info_of_env(step: Any, i: int, jacobians: bool) -> dict[str, Any]:
    """The ``info`` dict of env ``i`` of a batch step (views of its arrays; scalars as
    Python scalars; ``sparsity`` a dict of floats by kind)."""
    out: dict[str, Any] = {}
    for f in _info_fields(jacobians, step_groups(step)):
        value = getattr(step, f.name)[i]
        if f.name == "sparsity":
            value = {k: float(value[j]) for j, k in enumerate(SPARSITY_KINDS)}
        elif f.shape(Dims(0, 0, 0)) == ():
            value = value.item()
        out[f.info_key] = value
    return out


def info_of_batch(step: Any, jacobians: bool) -> dict[str, Any]:
    """A Gymnasium vector env's ``infos`` of a batch step: arrays with a leading batch axis
    and their all-True ``_key`` masks (``sparsity`` a dict of (B,) arrays by kind)."""
    ones = np.ones(len(step.reward), bool)
    out: dict[str, Any] = {}
    for f in _info_fields(jacobians, step_groups(step)):
        value = getattr(step, f.name)
        if f.name == "sparsity":
            value = {k: value[:, j] for j, k in enumerate(SPARSITY_KINDS)}
            value |= {f"_{k}": ones for k in SPARSITY_KINDS}
        out[f.info_key] = value
        out[f"_{f.info_key}"] = ones
    return out


def info_table(jacobians_note: str = "") -> str:
    """The ``info`` keys as a reStructuredText table (for the adapters' docstrings)."""
    rows = [("key", "per-step shape, dtype", "meaning")]
    for f in FIELDS:
        if f.info_key is None or f.role != "step":
            continue
        shape = shape_text(f)
        kind = "dict of float" if f.name == "sparsity" else f"{shape} {f.dtype}"
        rows.append((f"``{f.info_key}``", kind, f.doc))
    widths = [max(len(r[j]) for r in rows) for j in range(3)]
    rule = "  ".join("=" * w for w in widths)
    lines = [rule, "  ".join(c.ljust(w) for c, w in zip(rows[0], widths, strict=True)), rule]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows[1:]]
    return "\n".join(line.rstrip() for line in [*lines, rule, jacobians_note]).rstrip()


def shape_text(f: Field) -> str:
    """A field's per-step shape in the dims' letters: ``(n, m)``, ``(p,)``, ``()``."""
    shape = f.shape(Dims("n", "m", "obs_dim", "p"))  # type: ignore[arg-type]
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(map(str, shape)) + ")"
