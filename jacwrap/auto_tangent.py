"""``solver_tangent="auto"``: which rows keep the implicit Jacobians, and the unrolled redo.

The implicit Jacobian step (:mod:`jacwrap.solver_tangent`) and its check along v
(:func:`jacwrap.jacobians.check_along`) are two compiled programs; :func:`exact_rows`
compares their results on the host. Rows that fail get their Jacobians from the unrolled
step (:func:`with_unrolled_rows`), and :class:`TangentStats` decides, from how often that
happened, whether the next call tries the implicit step at all. State lives in the batch
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


def exact_rows(results: list[Any], checks: list[Any]) -> list[np.ndarray]:
    """Per sub-batch call, (rows,) bool: where the implicit Jacobians are the step's derivative.

    ``results``: the implicit step's batched :class:`~jacwrap.jacobians.StepResult` of each
    call; ``checks``: the batched :class:`~jacwrap.jacobians.Along` of the same calls.
    :func:`jacwrap.solver_tangent.check` on the host (one small matrix-vector product a row).
    """
    host = jax.device_get(
        [(r.jac_state, r.jac_action, c) for r, c in zip(results, checks, strict=True)]
    )
    out = []
    for js, ja, along in host:
        jac = np.concatenate([js, ja], axis=-1)
        v = solver_tangent.check_direction(jac.shape[-1], jac.dtype)
        out.append(solver_tangent.check(jac, v, along.unrolled, along.difference))
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
