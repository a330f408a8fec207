"""Roll one env through jacwrap's compiled Jacobian step, keeping what the C oracle needs.

The FD oracle (:func:`jacwrap.finite_differences.whole_step_fd`) starts every perturbed
run from the env's solver warm start before the step, ``state.data.qacc_warmstart`` of the
MJX state: the adapters do not expose it, so the tests step the same compiled batch that
:class:`jacwrap.JacobianWrapper` steps (``compiled_batch(env, 1, ...)``, shared with the
wrapper of the same Playground env, so no extra compile).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jacwrap.auto_tangent import exact_rows, with_unrolled_rows
from jacwrap.batch import compiled_batch
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD


@dataclass
class Step:
    """One env step: its inputs (s, warm start, a) and jacwrap's outputs."""

    state: np.ndarray  # s before the step, (n,)
    warmstart: np.ndarray  # qacc_warmstart before the step, (nv,)
    action: np.ndarray  # (m,) float64
    next_state: np.ndarray  # s' (n,)
    jac_state: np.ndarray  # (n, n)
    jac_action: np.ndarray  # (n, m)
    solver_exact: bool  # the implicit step's Jacobians passed their check and were kept
    mjx_state: Any  # the unbatched Playground State before the step


def reset_key(seed: int) -> jax.Array:
    """The (1, 2) reset keys that :class:`jacwrap.batch.EnvBatch` makes for ``seed``."""
    return jax.vmap(jax.random.PRNGKey)(jnp.asarray([seed % 2**32], dtype=jnp.uint32))


def rollout(env: Any, seed: int, actions, solver_tangent: str = "auto") -> list[Step]:
    """Reset with ``seed`` and apply ``actions`` (T, m), one Jacobian step each.

    ``solver_tangent`` as :class:`jacwrap.batch.EnvBatch`'s: ``auto`` steps with the
    implicit step and takes the unrolled step's Jacobians where its check fails, as the
    batch does (the same compiled programs, so the same numbers bit for bit).
    """
    fns = compiled_batch(
        env, 1, jacobians=True, threshold=GROUND_TRUTH_THRESHOLD, tangent=solver_tangent
    )
    state, _ = fns.reset(reset_key(seed))
    steps = []
    for a in np.asarray(actions, dtype=np.float64):
        act = jnp.asarray(a[None])
        res = fns.step(state, act)
        exact = True
        if fns.check is not None:
            ok = exact_rows(
                [res],
                [fns.check(state, act)],
                lambda _, s=state, x=act: fns.difference_along()(s, x),
            )
            exact = bool(ok[0][0])
        if not exact:
            rows = jnp.asarray([True])
            res = with_unrolled_rows(res, rows, fns.unrolled_step()(state, act), fns.merge)
        before = jax.tree.map(lambda x: x[0], state)
        host = jax.device_get(
            (before.data.qpos, before.data.qvel, before.data.qacc_warmstart, res.next_state[0])
        )
        qpos, qvel, warm, s_next = host
        steps.append(
            Step(
                state=np.concatenate([qpos, qvel]),
                warmstart=np.asarray(warm),
                action=a,
                next_state=np.asarray(s_next),
                jac_state=np.asarray(res.jac_state[0]),
                jac_action=np.asarray(res.jac_action[0]),
                solver_exact=exact,
                mjx_state=before,
            )
        )
        state = res.state
    return steps
