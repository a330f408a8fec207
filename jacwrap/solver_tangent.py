"""The constraint solver's tangent by implicit differentiation, and when it is exact.

MJX's constraint solver finds the accelerations ``qacc`` that minimise a convex cost (the
Gauss term plus each constraint row's cost; its gradient is :func:`cost_gradient`) with a
few Newton iterations, each with a line search. Forward mode through that loop carries all
n + m tangents through every iteration and line-search probe: 70 % of CheetahRun's
Jacobian step (BENCHMARKS.md, "The MJX step by stage").

Where the solver has converged, i.e. its ``qacc`` makes the cost's gradient vanish (to
well below MJX's own tolerance), the solution's tangent follows from the gradient alone (implicit function
theorem): with H = dg/dqacc (the Newton Hessian, M + J' D J over the active rows) and
g_p the gradient's tangent at fixed ``qacc``,

    dqacc = -H^-1 g_p,

and the constraint forces' tangents follow from ``qacc``'s. :func:`implicit_solve` is
MJX's ``solve`` with that tangent (``jax.custom_jvp``): the loop runs once, without
tangents. At a converged solve this is the derivative of the computed step, the same
numbers as forward mode through the loop (to ~1e-12, BENCHMARKS.md) and better where the
loop's own tangent is wrong: a warm start that is already optimal is kept by the line
search without a tangent, which made J exactly zero where MuJoCo C's finite differences
are not (ReacherHard on its joint limit; tests/test_solver_tangent.py).

Where the solver stopped at its iteration limit first (the tasks allow it 1-4 iterations),
the computed ``qacc`` still depends on the warm start and on the truncation, and only
forward mode through the loop gives its derivative. :func:`converged` tells the two apart
from the data after a substep; :class:`jacwrap.batch.EnvBatch` recomputes the Jacobians of
the rows where any substep did not converge with the unrolled step.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import jax

TANGENTS = ("auto", "unrolled")
"""How :class:`jacwrap.batch.EnvBatch` differentiates the solver: ``auto`` = implicit where
every substep's solve converged, forward mode through the loop (``unrolled``) elsewhere."""

CONVERGED = 1e-4
"""A solve counts as converged when its cost gradient passes MJX's own gradient test with
``CONVERGED`` times the model's tolerance (:func:`converged`)."""


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


def converged(m: Any, d: Any) -> jax.Array:
    """Whether ``d.qacc`` (the solver's result, kept in the data after a substep) minimises the
    solver's cost: MJX's own gradient test, ``|g| / trace(M) < CONVERGED * opt.tolerance``
    (MuJoCo's default tolerance 1e-8, so 1e-12). A scalar bool.

    Newton's method on this piecewise-quadratic cost lands on the minimum once the active
    set is right, and a warm start that is already the minimum passes too. A solve cut off
    by the iteration limit first (WalkerRun: 2 iterations over 10 substeps) leaves a
    gradient orders of magnitude above the test: there the step depends on the warm start
    and on the truncation, and only the unrolled tangent is its derivative (measured against
    MuJoCo C's finite differences: BENCHMARKS.md, tests/test_solver_tangent.py).
    """
    from mujoco.mjx._src import math

    solver = _solver()
    g = cost_gradient(m, d, d.qacc)
    return solver._rescale(m, d, math.norm(g)) < CONVERGED * m.opt.tolerance


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
