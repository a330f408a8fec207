"""The constraint solver's tangent by implicit differentiation, and when it is exact.

MJX's constraint solver finds the accelerations ``qacc`` that minimise a convex cost (the
Gauss term plus each constraint row's cost; its gradient is :func:`cost_gradient`) with a
few Newton iterations, each with a line search. Forward mode through that loop carries all
n + m tangents through every iteration and line-search probe: 70 % of CheetahRun's
Jacobian step (BENCHMARKS.md, "The MJX step by stage").

Where the solver has converged, i.e. its ``qacc`` makes the cost's gradient vanish, the
solution's tangent follows from the gradient alone (implicit function theorem): with H = dg/dqacc (the Newton Hessian, M + J' D J over the active rows) and
g_p the gradient's tangent at fixed ``qacc``,

    dqacc = -H^-1 g_p,

and the constraint forces' tangents follow from ``qacc``'s. :func:`implicit_solve` is
MJX's ``solve`` with that tangent (``jax.custom_jvp``): the loop runs once, without
tangents. Where the computed step follows the minimiser this is the derivative of the computed step, the same
numbers as forward mode through the loop (to ~1e-12, BENCHMARKS.md) and better where the
loop's own tangent is wrong: a warm start that is already optimal is kept by the line
search without a tangent, which made J exactly zero where MuJoCo C's finite differences
are not (ReacherHard on its joint limit; tests/test_solver_tangent.py).

Where it did not (a solve cut off by its iteration limit, WalkerRun's 2 iterations over 10
substeps; a start point MJX's tolerance test accepts before any iteration, so that nearby
inputs keep it too; a last Newton step taken with another active set, which lands on the
minimum here but not for nearby inputs), the computed step depends on the warm start and the
iteration path, and only forward mode through the loop gives its derivative. Rather than
telling those cases apart from the solver's internals, each implicit Jacobian J is checked
along one fixed direction v (:func:`check`): ``J v`` against forward mode through the loop
(one tangent instead of n + m) and, where those differ, against the centered difference of
the step along v (a program called only then), which decides which tangent is the step's
derivative. A J that differs from the derivative differs along almost every v, so the
check catches it; :class:`jacwrap.batch.EnvBatch` recomputes the rows that fail with the
unrolled step.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

TANGENTS = ("auto", "unrolled")
"""How :class:`jacwrap.batch.EnvBatch` differentiates the solver: ``auto`` = implicit where
its check passes (:func:`check`), forward mode through the loop (``unrolled``) elsewhere."""

CHECK_RTOL = 1e-9
"""Two directional derivatives agree to ``CHECK_RTOL`` of ``max |J| * sum |v|`` (:func:`check`)."""

FD_RTOL = 1e-6
"""... and one agrees with the centered difference along v to ``FD_RTOL`` (:func:`check`)."""

FD_EPS = 1e-6
"""Step of the centered difference along v (the FD oracle's, jacwrap.finite_differences)."""


def _solver():
    from mujoco.mjx._src import solver

    return solver


def _context(m: Any, d: Any, qacc: jax.Array) -> Any:
    """MJX's solver context at ``qacc``: constraint forces and cost, no search direction."""
    return _solver().Context.create(m, d.replace(qacc=qacc), grad=False)


def cost_gradient(m: Any, d: Any, qacc: jax.Array) -> jax.Array:
    """Gradient of the solver's cost at ``qacc``: M qacc - qfrc_smooth - J' f(J qacc - aref).

    The active set, friction-loss zones and cone zones are those at ``qacc`` (comparisons
    carry no tangent), as in MJX's own gradient.
    """
    ctx = _context(m, d, qacc)
    return ctx.Ma - d.qfrc_smooth - ctx.qfrc_constraint


def check_direction(size: int, dtype: Any = np.float64) -> np.ndarray:
    """The fixed direction v of the check (standard normal, seed 0: no entry is zero)."""
    return np.random.default_rng(0).standard_normal(size).astype(dtype)


def _host(*xs: Any) -> list[np.ndarray]:
    return [np.asarray(x, dtype=np.float64) for x in xs]


def _scale(jac: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``max |J| * sum |v|`` per Jacobian: what the check's tolerances are relative to."""
    return np.abs(jac).max(axis=(-2, -1)) * np.abs(v).sum()


def _close(a: np.ndarray, b: np.ndarray, rtol: float, scale: np.ndarray) -> np.ndarray:
    """Whether the vectors ``a`` and ``b`` agree to ``rtol * scale``; NaN compares False."""
    with np.errstate(invalid="ignore"):
        return np.abs(a - b).max(axis=-1) <= rtol * scale


def agrees(jac: np.ndarray, v: np.ndarray, unrolled: np.ndarray) -> np.ndarray:
    """Whether each implicit ``jac @ v`` equals ``unrolled`` (forward mode through the solver
    loop along v, :func:`jacwrap.jacobians.unrolled_along`) to :data:`CHECK_RTOL`: (...,)
    bool. True passes :func:`check` without the centered difference, which is needed (and
    computed) only where this is False. False where anything is not finite."""
    jac, v, unrolled = _host(jac, v, unrolled)
    return _close(jac @ v, unrolled, CHECK_RTOL, _scale(jac, v))


def check(jac: np.ndarray, v: np.ndarray, unrolled: np.ndarray, fd: np.ndarray) -> np.ndarray:
    """Whether each implicit Jacobian is the step's derivative: (...,) bool (host, NumPy).

    ``jac``: (..., n, n + m) = [J_s | J_a]; ``unrolled``: (..., n) forward mode through the
    solver loop along v; ``fd``: (..., n) the centered difference of the step along v
    (:func:`jacwrap.jacobians.difference_along`). ``jac @ v`` must equal ``unrolled``
    (:func:`agrees`), or, where the two tangents differ, the difference must side with
    ``jac``: ``jac @ v`` within :data:`FD_RTOL` of ``fd`` and ``unrolled`` not (the warm start
    kept by the line search, where forward mode through the loop has no tangent). False where
    anything is not finite.
    """
    jac, v, unrolled, fd = _host(jac, v, unrolled, fd)
    scale = _scale(jac, v)
    jv = jac @ v
    same = _close(jv, unrolled, CHECK_RTOL, scale)
    implicit_right = _close(jv, fd, FD_RTOL, scale)
    unrolled_right = _close(unrolled, fd, FD_RTOL, scale)
    return same | (implicit_right & ~unrolled_right)


def implicit_solve(m: Any, d: Any) -> Any:
    """MJX's ``solver.solve(m, d)`` whose tangent is the implicit one (module docstring).

    The primal is MJX's solve, unchanged. The tangent of ``qacc`` is ``-H^-1 g_p`` at the
    solution; those of ``efc_force`` and ``qfrc_constraint`` follow from it; every other
    field of ``d`` passes its tangent through (``solve`` does not change them).
    """
    original = _ORIGINAL_SOLVE or _solver().solve

    @jax.custom_jvp
    def solve(d):
        return original(m, d)

    @solve.defjvp
    def solve_jvp(primals, tangents):
        (d,), (dd,) = primals, tangents
        out = original(m, d)
        qacc = out.qacc
        _, g_p = jax.jvp(lambda d_: cost_gradient(m, d_, qacc), (d,), (dd,))
        h = jax.jacfwd(lambda q: cost_gradient(m, d, q))(qacc)
        factor = jax.scipy.linalg.cho_factor(0.5 * (h + h.T))
        dqacc = -jax.scipy.linalg.cho_solve(factor, g_p)

        def forces(d_, q):
            ctx = _context(m, d_, q)
            return ctx.efc_force, ctx.qfrc_constraint

        _, (dforce, dqfrc) = jax.jvp(forces, (d, qacc), (dd, dqacc))
        dout = dd.tree_replace({"qacc": dqacc, "qfrc_constraint": dqfrc, "_impl.efc_force": dforce})
        return out, dout

    return solve(d)


_ORIGINAL_SOLVE = None  # MJX's solve while a swap is in place
_SWAP_LOCK = threading.RLock()  # re-entrant: a trace inside a trace nests its swap


@contextlib.contextmanager
def implicit_tangents() -> Iterator[None]:
    """Within the block, MJX's ``solver.solve`` called from this thread is :func:`implicit_solve`.

    Meant around the trace of one env step (the swap is Python-level, so only tracing sees
    it; ``mjx.forward`` looks ``solver.solve`` up at each call). Other threads get MJX's
    own solve meanwhile.
    """
    global _ORIGINAL_SOLVE
    solver = _solver()
    with _SWAP_LOCK:
        original = solver.solve
        outer = _ORIGINAL_SOLVE
        _ORIGINAL_SOLVE = outer or original
        thread = threading.get_ident()

        def solve(m, d):
            if threading.get_ident() != thread:
                return (outer or original)(m, d)
            return implicit_solve(m, d)

        solver.solve = solve
        try:
            yield
        finally:
            solver.solve = original
            _ORIGINAL_SOLVE = outer
