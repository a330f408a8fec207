"""jacwrap's Jacobians against MuJoCo C's whole-step finite differences, constraints active.

The oracle (docs/SCIENCE.md, "The finite-difference oracle"): MuJoCo C's env step (``n_substeps`` ``mj_step`` calls, control held)
differenced around s and a, centered, eps 1e-6, every run from the env's warm start. Only
steps where C and MJX give the same next state (to 1e-9) are compared with it; on the
others the oracle is finite differences of the MJX step itself.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mjx_rollout import Step, rollout

from jacwrap.envs import describe, load_playground
from jacwrap.finite_differences import (
    FD_EPS,
    KINK_RATIO,
    chained_fd,
    env_step,
    substep_constraints,
    whole_step_fd,
)
from jacwrap.jacobians import transition

LIMIT = int(mujoco.mjtConstraint.mjCNSTR_LIMIT_JOINT)
CONTACTS = {
    int(mujoco.mjtConstraint.mjCNSTR_CONTACT_FRICTIONLESS),
    int(mujoco.mjtConstraint.mjCNSTR_CONTACT_PYRAMIDAL),
    int(mujoco.mjtConstraint.mjCNSTR_CONTACT_ELLIPTIC),
}
SAME_NEXT_STATE = 1e-9  # C and MJX simulate the step identically (docs/SCIENCE.md)


def combined(js: np.ndarray, ja: np.ndarray) -> np.ndarray:
    return np.concatenate([js, ja], axis=1)


def normwise_error(fd: np.ndarray, ours: np.ndarray) -> float:
    """max |fd - ours| / max |ours| over [J_s | J_a]."""
    return float(np.max(np.abs(fd - ours)) / np.max(np.abs(ours)))


def assert_agrees(ours: np.ndarray, fd: np.ndarray, columns=None) -> None:
    """Centered FD (eps 1e-6) against exact values: to 1e-6 of the largest entry.

    FD's truncation and round-off error is absolute (~1e-10 of the largest entry), so
    small entries are compared absolutely; structural zeros (exact in autodiff) stay below
    1e-7 in FD (of the largest entry, where that is above 1: WalkerRun's reach 300).
    ``columns`` (bool mask) restricts the comparison to the columns where the step is smooth.
    """
    keep = np.ones(ours.shape[1], dtype=bool) if columns is None else columns
    scale = np.max(np.abs(ours))
    err = float(np.max(np.abs(fd - ours)[:, keep])) / scale
    assert err < 1e-6, f"FD differs by {err:.1e} of the largest entry"
    zeros = (ours == 0.0) & keep[None, :]
    assert np.all(np.abs(fd[zeros]) < 1e-7 * max(1.0, scale))


def c_oracle(model, info, step: Step, warmstart=None):
    warm = step.warmstart if warmstart is None else warmstart
    q, v = step.state[: info.nq], step.state[info.nq :]
    return whole_step_fd(model, q, v, step.action, info.n_substeps, qacc_warmstart=warm)


def constraint_types(model, info, step: Step) -> list[np.ndarray]:
    q, v = step.state[: info.nq], step.state[info.nq :]
    return substep_constraints(
        model, q, v, step.action, info.n_substeps, qacc_warmstart=step.warmstart
    )


@pytest.fixture(scope="module")
def reacher_at_limit():
    """ReacherHard from seed 0, wrist driven at 0.9 into its +160 degree limit: 30 steps."""
    env = load_playground("ReacherHard")
    info = describe(env, "ReacherHard")
    return env.mj_model, info, rollout(env, 0, np.tile([0.0, 0.9], (30, 1)))


def test_reacher_joint_limit_whole_step_agrees_chained_does_not(reacher_at_limit):
    model, info, steps = reacher_at_limit
    limit_steps = []
    for t, step in enumerate(steps):
        rows = constraint_types(model, info, step)
        if any(LIMIT in r for r in rows):
            limit_steps.append(t)
        fd = c_oracle(model, info, step)
        np.testing.assert_allclose(fd.next_state, step.next_state, rtol=0, atol=SAME_NEXT_STATE)
        assert not fd.kinks.any(), t  # smooth within +-eps: every column is compared
        assert_agrees(
            combined(step.jac_state, step.jac_action), combined(fd.jac_state, fd.jac_action)
        )
    # The wrist reaches its limit within the rollout and stays there.
    assert limit_steps and limit_steps[-1] == len(steps) - 1
    assert len(limit_steps) >= 5
    # At the impact (the limit becomes active during the step, then stays active) the chain
    # of per-substep mjd_transitionFD is off: it holds each substep's warm start fixed.
    errors = []
    for t in limit_steps[:2]:
        s = steps[t]
        ch = chained_fd(
            model,
            s.state[: info.nq],
            s.state[info.nq :],
            s.action,
            info.n_substeps,
            qacc_warmstart=s.warmstart,
        )
        errors.append(
            normwise_error(
                combined(ch.jac_state, ch.jac_action), combined(s.jac_state, s.jac_action)
            )
        )
    assert max(errors) > 1e-2, errors


def test_reacher_limit_oracle_needs_the_env_warm_start(reacher_at_limit):
    # One Newton iteration (ReacherHard's solver setting): the result depends on where the
    # solver starts. From a zero warm start C's step is another step; from the env's, the same.
    model, info, steps = reacher_at_limit
    impact = next(
        t for t, s in enumerate(steps) if all(LIMIT in r for r in constraint_types(model, info, s))
    )
    s = steps[impact]
    q, v = s.state[: info.nq], s.state[info.nq :]
    same = env_step(model, q, v, s.action, info.n_substeps, qacc_warmstart=s.warmstart)
    cold = env_step(model, q, v, s.action, info.n_substeps, qacc_warmstart=np.zeros(info.nv))
    np.testing.assert_allclose(same, s.next_state, rtol=0, atol=SAME_NEXT_STATE)
    assert np.max(np.abs(cold - s.next_state)) > 1e-4
    wrong = c_oracle(model, info, s, warmstart=np.zeros(info.nv))
    ours = combined(s.jac_state, s.jac_action)
    assert normwise_error(combined(wrong.jac_state, wrong.jac_action), ours) > 1e-2


def test_saturated_control_is_an_exact_zero_in_both(reacher_at_limit):
    # MuJoCo clamps ctrl to ctrlrange in C and in MJX: an action beyond it has no effect, so
    # the oracle's column is exactly zero too (both perturbed runs clamp to the same value).
    model, info, steps = reacher_at_limit
    s = steps[3]
    fd = whole_step_fd(
        model,
        s.state[: info.nq],
        s.state[info.nq :],
        np.array([1.5, -0.2]),
        info.n_substeps,
        qacc_warmstart=s.warmstart,
    )
    assert np.all(fd.jac_action[:, 0] == 0.0)
    assert np.all(fd.jac_action[info.nq :, 1] != 0.0)


def mjx_step_fd(env, eps: float = FD_EPS):
    """Centered differences of the MJX env step itself: a jitted ``(state, a) -> (J, f(+), f(-))``.

    J = [J_s | J_a]; all 2 (n + m) perturbed steps run in one vmapped call, the warm start
    held as in C. f(+) and f(-) are the perturbed next states, columns as in J.
    """

    @jax.jit
    def run(st, a):
        s = jnp.concatenate([st.data.qpos, st.data.qvel])
        n, m = s.size, a.size
        d = eps * jnp.eye(n + m)
        x = jnp.concatenate([s, a])
        inputs = jnp.concatenate([x + d, x - d])
        out = jax.vmap(lambda x_: transition(env, st, x_[:n], x_[n:])[0])(inputs)
        plus, minus = out[: n + m].T, out[n + m :].T
        return (plus - minus) / (2 * eps), plus, minus

    return run


def jumps(s_next: np.ndarray, plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
    """Columns where the step is not smooth within +-eps (the C oracle's jump test)."""
    second = np.max(np.abs(plus - 2 * s_next[:, None] + minus), axis=0)
    first = np.max(np.abs(plus - minus), axis=0)
    return second > KINK_RATIO * first + 1e-13


@pytest.mark.slow
def test_walker_ground_contact_over_ten_substeps():
    env = load_playground("WalkerRun")
    info = describe(env, "WalkerRun")
    model = env.mj_model
    rng = np.random.default_rng(0)
    steps = rollout(env, 0, rng.uniform(-1, 1, (60, info.nu)))
    mjx_fd = mjx_step_fd(env)
    compared, contact_steps, other, kinked = 0, 0, 0, 0
    for step in steps:
        ours = combined(step.jac_state, step.jac_action)
        fd = c_oracle(model, info, step)
        if np.max(np.abs(fd.next_state - step.next_state)) <= SAME_NEXT_STATE:
            smooth = ~fd.kinks
            assert_agrees(ours, combined(fd.jac_state, fd.jac_action), smooth)
            compared += 1
            rows = constraint_types(model, info, step)
            contact_steps += any(CONTACTS & set(r.tolist()) for r in rows)
        else:
            # C and MJX simulate this contact step differently: MJX's own differences.
            jac, plus, minus = jax.device_get(mjx_fd(step.mjx_state, jnp.asarray(step.action)))
            smooth = ~jumps(step.next_state, np.asarray(plus), np.asarray(minus))
            assert_agrees(ours, np.asarray(jac), smooth)
            other += 1
        kinked += int((~smooth).sum())
    # The walker falls onto the ground: most compared steps have ground contact active,
    # a few steps are simulated differently by C, and few columns are not smooth.
    assert compared >= 50 and contact_steps >= 30, (compared, contact_steps)
    assert other >= 1
    assert kinked <= 0.01 * len(steps) * ours.shape[1]
