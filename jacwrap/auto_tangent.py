"""``solver_tangent="auto"``: which rows keep the implicit Jacobians, and the unrolled redo.

The implicit Jacobian step (:mod:`jacwrap.solver_tangent`) and its check along v
(:func:`jacwrap.jacobians.unrolled_along`) are two compiled programs; :func:`exact_rows`
compares their results on the host and, only for the calls where they disagree, asks a
third for the centered difference that decides (:func:`jacwrap.jacobians.difference_along`).
Rows that fail get their Jacobians from the unrolled step (:func:`with_unrolled_rows`), and
:class:`TangentStats` decides, from how often that happened, whether the next call tries
the implicit step at all. State lives in the batch
(:class:`jacwrap.batch.EnvBatch`); these are its parts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from jacwrap import solver_tangent

#: The fields of a Jacobian step that the unrolled step recomputes.
JACOBIAN_FIELDS = ("jac_state", "jac_action", "sparsity", "finite")


@dataclass
class TangentStats:
    """Which step served each sub-batch call under ``solver_tangent="auto"``, and the choice.

    The implicit step is tried first; its rows where a solve did not converge get their
    Jacobians from the unrolled step (a second call). Where that happened in at least
    ``max_rate`` of the last ``window`` calls (WalkerRun: 99 % of calls at batch 32), both
    cost more than the unrolled step alone, so the next ``skip`` calls go straight to it,
    then the implicit step is tried again (``skip`` doubling each time, so that a task whose
    solves rarely converge pays ever less for the tries). Either way the Jacobians are the
    same (to ~1e-12).
    """

    window: int = 16
    max_rate: float = 0.5
    skip: int = 64  # doubled at each skip after the first, up to max_skip
    max_skip: int = 4096
    implicit: int = 0  # calls served by the implicit step alone
    redone: int = 0  # calls whose inexact rows the unrolled step redid
    unrolled: int = 0  # calls sent straight to the unrolled step
    _recent: deque = field(default_factory=deque)
    _skipping: int = 0

    def try_implicit(self) -> bool:
        """Whether the next call should try the implicit step."""
        if self._skipping:
            self._skipping -= 1
            self.unrolled += 1
            return False
        return True

    def record(self, redone: bool) -> None:
        """Note one implicit call and whether its inexact rows were redone."""
        self.redone += redone
        self.implicit += not redone
        self._recent.append(redone)
        if len(self._recent) > self.window:
            self._recent.popleft()
        if len(self._recent) == self.window and np.mean(self._recent) >= self.max_rate:
            self._skipping = self._next_skip
            self._next_skip = min(2 * self._next_skip, self.max_skip)
            self._recent.clear()

    def __post_init__(self) -> None:
        self._next_skip = self.skip


def exact_rows(
    results: list[Any], alongs: list[Any], difference: Callable[[int], Any]
) -> list[np.ndarray]:
    """Per sub-batch call, (rows,) bool: where the implicit Jacobians are the step's derivative.

    ``results``: the implicit step's batched :class:`~jacwrap.jacobians.StepResult` of each
    call; ``alongs``: the batched :func:`~jacwrap.jacobians.unrolled_along` of the same calls;
    ``difference(i)``: dispatches call ``i``'s batched
    :func:`~jacwrap.jacobians.difference_along`, asked only for the calls where some row's
    ``J v`` and unrolled tangent disagree (:func:`jacwrap.solver_tangent.agrees`); those
    are all dispatched before any is read back. :func:`jacwrap.solver_tangent.check` on the
    host (one small matrix-vector product a row).
    """
    host = jax.device_get(
        [(r.jac_state, r.jac_action, u) for r, u in zip(results, alongs, strict=True)]
    )
    jacs = [np.concatenate([js, ja], axis=-1) for js, ja, _ in host]
    vs = [solver_tangent.check_direction(j.shape[-1], j.dtype) for j in jacs]
    out = [solver_tangent.agrees(j, v, u) for j, v, (_, _, u) in zip(jacs, vs, host, strict=True)]
    undecided = [i for i, ok in enumerate(out) if not ok.all()]
    fds = jax.device_get([difference(i) for i in undecided])
    for i, fd in zip(undecided, fds, strict=True):
        out[i] = solver_tangent.check(jacs[i], vs[i], host[i][2], fd)
    return out


def with_unrolled_rows(result: Any, rows: jax.Array, unrolled: Any, merge: Callable) -> Any:
    """``result`` (a batched :class:`~jacwrap.jacobians.StepResult` of the implicit step) with
    the Jacobians, sparsity and finiteness of ``rows`` (bool, (B,)) taken from ``unrolled``
    (the unrolled step's result for the same states and actions); ``merge`` is a
    :class:`jacwrap.batch.CompiledBatch`'s. Everything else, next states included, stays
    ``result``'s.
    """
    new = tuple(getattr(unrolled, f) for f in JACOBIAN_FIELDS)
    old = tuple(getattr(result, f) for f in JACOBIAN_FIELDS)
    merged = merge(rows, new, old)
    return result._replace(**dict(zip(JACOBIAN_FIELDS, merged, strict=True)))
