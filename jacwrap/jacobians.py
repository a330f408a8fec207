"""The transition function f(s, a) of a Playground env and its exact Jacobians (pure JAX).

f(s, a) is one environment step: ``env.step`` with the simulator data's qpos and qvel
replaced by s = concat(qpos, qvel), everything else in the data (warm start, time, ...)
held at its current value. J_s = df/ds (n x n) and J_a = df/da (n x m) are computed by
forward-mode autodiff (``jax.jacfwd``: n + m tangent propagations, the primal once);
reverse mode does not go through MJX's constraint solver loop. The solver itself is
differentiated through its loop (``tangent="unrolled"``) or implicitly at its solution
(``tangent="implicit"``, :mod:`jacwrap.solver_tangent`), which is the step's derivative only
where the solver converged: :func:`unrolled_along` and :func:`difference_along` give what
tells them apart, per step.

Rows of both Jacobians are next-state variables, columns the current state (qpos, qvel)
or action variables, in that order.

Both steps also return what the constraint solver saw during the step (active contact pairs,
contact and constraint-row counts; :mod:`jacwrap.contacts`), taken from the same trace of the
env's step: no second simulation, and the step itself is unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jacwrap import contacts as _contacts
from jacwrap import solver_tangent as _solver_tangent
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD, sparsity_triplet


class StepResult(NamedTuple):
    """Everything one (optionally Jacobian) step produces, as a pytree of arrays."""

    state: Any  # the Playground State after the step
    next_state: jax.Array  # s' = concat(qpos, qvel), (n,)
    jac_state: jax.Array  # (n, n), or (0, 0) when Jacobians are off
    jac_action: jax.Array  # (n, m), or (0, 0) when Jacobians are off
    sparsity: jax.Array  # (3,) state, action, combined; NaN when non-finite or off
    finite: jax.Array  # () bool, all Jacobian entries finite (True when off)
    contacts: jax.Array  # (P,) bool, pairs in contact at any substep ((0,) when off)
    contacts_start: jax.Array  # (P,) bool, pairs in contact at the start state s
    n_contacts: jax.Array  # () int32, active contacts, max over substeps (-1 when off)
    n_constraints: jax.Array  # () int32, active constraint rows, max over substeps


def state_vector(data: Any) -> jax.Array:
    """s = concat(qpos, qvel) of an MJX data."""
    return jnp.concatenate([data.qpos, data.qvel], axis=-1)


def transition(env: Any, state: Any, s: jax.Array, a: jax.Array) -> tuple[jax.Array, Any]:
    """f(s, a) from ``state``: returns (s', the full next Playground State)."""
    nq = state.data.qpos.shape[-1]
    data = state.data.replace(qpos=s[:nq], qvel=s[nq:])
    nxt = env.step(state.replace(data=data), a)
    return state_vector(nxt.data), nxt


def _observed(env: Any, contacts: bool, step: Callable[[], Any]) -> tuple[Any, Any]:
    """(step(), the contact summary of the env steps it traced) (:mod:`jacwrap.contacts`)."""
    if not contacts:
        return step(), _contacts.absent()
    with _contacts.capture(_contacts.layout(env.mj_model), type(env).__name__) as cap:
        out = step()
    return out, cap.summary()


def jacobian_step(
    env: Any,
    state: Any,
    action: jax.Array,
    threshold: float = GROUND_TRUTH_THRESHOLD,
    contacts: bool = True,
    tangent: str = "unrolled",
) -> StepResult:
    """One env step with J_s, J_a and their sparsity (unbatched; vmap it for a batch).

    ``contacts=False`` leaves out the contact summary ((0,) masks, counts of -1).
    ``tangent``: ``"unrolled"`` (forward mode through the constraint solver's loop) or
    ``"implicit"`` (:mod:`jacwrap.solver_tangent`; J is the step's derivative where
    :func:`jacwrap.solver_tangent.check` passes (:func:`unrolled_along`,
    :func:`difference_along`): redo the step unrolled where not).
    """
    if tangent not in ("unrolled", "implicit"):
        raise ValueError(f"tangent must be 'unrolled' or 'implicit', got {tangent!r}")
    s = state_vector(state.data)

    def f(s_, a_):
        (s_next, nxt), con = _observed(env, contacts, lambda: transition(env, state, s_, a_))
        return s_next, (nxt, con)

    implicit = tangent == "implicit"
    with _solver_tangent.implicit_tangents() if implicit else contextlib.nullcontext():
        (js, ja), (nxt, con) = jax.jacfwd(f, argnums=(0, 1), has_aux=True)(s, action)
    sp = sparsity_triplet(js, ja, threshold)
    finite = jnp.isfinite(js).all() & jnp.isfinite(ja).all()
    return StepResult(nxt, state_vector(nxt.data), js, ja, sp, finite, *con)


def _along(env: Any, state: Any, action: jax.Array) -> tuple[jax.Array, jax.Array, Callable]:
    """(x = (s, a), the check direction v, x -> s') of one state: what the checks differentiate."""
    s = state_vector(state.data)
    n = s.shape[0]
    x = jnp.concatenate([s, action])
    v = jnp.asarray(_solver_tangent.check_direction(x.shape[0], x.dtype))

    def step(x_):
        return transition(env, state, x_[:n], x_[n:])[0]

    return x, v, step


def unrolled_along(env: Any, state: Any, action: jax.Array) -> jax.Array:
    """(n,): the step's derivative along the fixed check direction v of (s, a), by forward
    mode through the solver loop (unbatched; vmap it): what
    :func:`jacwrap.solver_tangent.agrees` compares an implicit ``[J_s | J_a] @ v`` with. A
    program of its own, so that the implicit Jacobian step stays small (it compiles and
    loads beside it)."""
    x, v, step = _along(env, state, action)
    return jax.jvp(step, (x,), (v,))[1]


def difference_along(env: Any, state: Any, action: jax.Array) -> jax.Array:
    """(n,): the centered difference of the step along v (unbatched; vmap it), which decides
    :func:`jacwrap.solver_tangent.check` where :func:`unrolled_along` and the implicit
    Jacobian disagree. Its own program too, called only for those calls: it costs as much
    as :func:`unrolled_along` (CheetahRun, batch 32: 1.7 ms each; BENCHMARKS.md)."""
    x, v, step = _along(env, state, action)
    eps = _solver_tangent.FD_EPS
    plus, minus = jax.vmap(step)(jnp.stack([x + eps * v, x - eps * v]))  # one plain step traced
    return (plus - minus) / (2 * eps)


def plain_step(env: Any, state: Any, action: jax.Array, contacts: bool = True) -> StepResult:
    """One env step without Jacobians, in the same result layout."""
    nxt, con = _observed(env, contacts, lambda: env.step(state, action))
    empty = jnp.zeros((0, 0), dtype=state.data.qpos.dtype)
    nan3 = jnp.full((3,), jnp.nan, dtype=state.data.qpos.dtype)
    return StepResult(nxt, state_vector(nxt.data), empty, empty, nan3, jnp.array(True), *con)
