"""Array containers returned by the reader: :class:`Steps` (k steps) and :class:`EpisodeInfo`.

``Steps`` is made from the step schema (:mod:`jacwrap.schema`): one field per
:data:`~jacwrap.schema.FIELDS` entry, so a new column needs no edit here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from jacwrap import schema


class _StepsMethods:
    """The methods of :class:`Steps` (its fields come from :data:`jacwrap.schema.FIELDS`)."""

    def __len__(self) -> int:
        return int(self.reward.shape[0])

    def __getitem__(self, index: slice | np.ndarray) -> Steps:
        """Rows ``index`` (a slice or an index array) of every field, as a new :class:`Steps`."""
        if isinstance(index, int | np.integer):
            index = slice(int(index), int(index) + 1 if index != -1 else None)
        return self._map(lambda a: a[index])

    def copy(self) -> Steps:
        """A copy that owns its arrays."""
        return self._map(np.copy)

    @property
    def groups(self) -> tuple[str, ...]:
        """The field groups these steps carry (``core``, and ``contacts`` where recorded)."""
        return schema.step_groups(self)

    @property
    def has_contacts(self) -> bool:
        """Whether the contact fields are there (recordings of format version 2 with them)."""
        return "contacts" in self.groups

    def _map(self, fn) -> Steps:
        return type(self)(
            **{
                f.name: None if (a := getattr(self, f.name)) is None else fn(a)
                for f in fields(self)
            }
        )

    @classmethod
    def concat(cls, parts: list[Steps]) -> Steps:
        """Concatenate along the step axis (at least one part; one part is returned as is)."""
        if len(parts) == 1:
            return parts[0]
        out: dict[str, Any] = {}
        for f in fields(cls):
            values = [getattr(p, f.name) for p in parts]
            out[f.name] = None if values[0] is None else np.concatenate(values)
        return cls(**out)

    @classmethod
    def empty(cls, dims: schema.Dims, jac_dtype: str, groups: tuple[str, ...]) -> Steps:
        """Zero steps of a recording with ``dims``, ``jac_dtype`` and ``groups``."""
        jd = np.dtype(np.float64 if jac_dtype == "float64" else np.float32)
        out = {}
        for f in schema.fields_of(groups):
            dtype = jd if f.name in ("jac_state", "jac_action") else f.dtype
            out[f.name] = np.zeros((0, *f.shape(dims)), dtype)
        return cls(**out)


def _steps_doc() -> str:
    lines = [
        "k consecutive recorded steps as NumPy arrays with leading axis k (``len(steps) == k``).",
        "",
        "Its fields are the step schema's (:data:`jacwrap.schema.FIELDS`): ``jac_state`` and",
        "``jac_action`` are float64, or float32 if the header says so; ``zero_state`` and",
        "``zero_action`` are computed from the float64 Jacobians at the header's threshold;",
        "fields of the ``contacts`` group are None in a recording without contact data.",
        "",
    ]
    for f in schema.FIELDS:
        shape = schema.shape_text(f)[1:].rstrip(",)")
        lines.append(f"- ``{f.name}`` (k{', ' if shape else ''}{shape}) {f.dtype}: {f.doc}")
    return "\n".join(lines)


Steps = dataclasses.make_dataclass(
    "Steps",
    [
        (f.name, np.ndarray | None, dataclasses.field(default=None))
        if f.group != "core"
        else (f.name, np.ndarray)
        for f in schema.FIELDS
    ],
    bases=(_StepsMethods,),
    kw_only=True,
    namespace={"__doc__": _steps_doc(), "__module__": __name__},
)
Steps.__qualname__ = "Steps"


@dataclass(frozen=True)
class EpisodeInfo:
    """One episode: global steps ``start .. start + length - 1`` of env ``env_index``.

    ``ret`` is the sum of its rewards. ``complete`` is False when the recording stopped
    before the episode ended (writer closed mid-episode, or the process was killed).
    """

    index: int
    env_index: int
    start: int
    length: int
    ret: float
    complete: bool

    @property
    def stop(self) -> int:
        return self.start + self.length
