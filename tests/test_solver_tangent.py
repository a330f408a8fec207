"""The implicit solver tangent (jacwrap.solver_tangent) against MuJoCo C's whole-step FD.

ReacherHard driven into its wrist's joint limit (seed 0, action (0, 0.9)): once the wrist
rests on the limit, the solver's warm start is already optimal, MJX's line search keeps it
and forward mode through the loop carries no tangent for it. The unrolled Jacobians are
then exactly zero where the oracle's are not (the "false zeros" the README listed as a
known limitation); the auto tangent (implicit where the solve converged, unrolled rows
elsewhere) agrees with the oracle on every step. The oracle is C's where C and MJX give the
same next state (to 1e-9), else finite differences of the MJX step (as tests/test_fd_oracle.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mjx_rollout import rollout
from test_fd_oracle import (
    LIMIT,
    SAME_NEXT_STATE,
    assert_agrees,
    c_oracle,
    combined,
    constraint_types,
    jumps,
    mjx_step_fd,
)

from jacwrap import solver_tangent
from jacwrap.auto_tangent import TangentStats
from jacwrap.batch import EnvBatch
from jacwrap.envs import describe, load_playground

STEPS = 60


@pytest.fixture(scope="module")
def reacher():
    env = load_playground("ReacherHard")
    info = describe(env, "ReacherHard")
    actions = np.tile([0.0, 0.9], (STEPS, 1))
    auto = rollout(env, 0, actions)
    unrolled = rollout(env, 0, actions, solver_tangent="unrolled")
    mjx_fd = mjx_step_fd(env)
    oracle = []
    for s in auto:
        fd = c_oracle(env.mj_model, info, s)
        if np.max(np.abs(fd.next_state - s.next_state)) <= SAME_NEXT_STATE:
            oracle.append((combined(fd.jac_state, fd.jac_action), ~fd.kinks))
        else:  # C rests on the limit a few 1e-9 differently: MJX's own differences
            jac, plus, minus = jax.device_get(mjx_fd(s.mjx_state, jnp.asarray(s.action)))
            smooth = ~jumps(s.next_state, np.asarray(plus), np.asarray(minus))
            oracle.append((np.asarray(jac), smooth))
    # Differences are derivatives only where the step is smooth within +-eps: most columns.
    assert sum(int((~smooth).sum()) for _, smooth in oracle) <= 0.1 * STEPS * 6
    return env, info, actions, auto, unrolled, oracle


def test_auto_tangent_agrees_with_the_c_oracle_where_unrolled_has_false_zeros(reacher):
    _, _, _, auto, unrolled, oracle = reacher
    false_zeros = 0
    for a, u, (ref, smooth) in zip(auto, unrolled, oracle, strict=True):
        # The same trajectory (the implicit step's primal is MJX's solve, unchanged).
        np.testing.assert_allclose(a.state, u.state, rtol=0, atol=1e-12)
        assert_agrees(combined(a.jac_state, a.jac_action), ref, smooth)
        ours_u = combined(u.jac_state, u.jac_action)
        false_zeros += int(np.sum((ours_u == 0.0) & (np.abs(ref) > 1e-3) & smooth[None]))
    # The unrolled tangent misses the warm start on the limit: what this test guards against.
    assert false_zeros >= 10, false_zeros


def test_implicit_equals_unrolled_off_the_limit_and_is_closer_to_the_oracle_on_it(reacher):
    env, info, _, auto, unrolled, oracle = reacher
    kept = redone = free = 0
    for a, u, (ref, smooth) in zip(auto, unrolled, oracle, strict=True):
        ours_a = combined(a.jac_state, a.jac_action)
        ours_u = combined(u.jac_state, u.jac_action)
        scale = np.abs(ours_u).max()
        kept += a.solver_exact
        redone += not a.solver_exact
        if not any(LIMIT in r for r in constraint_types(env.mj_model, info, a)):
            # No constraint row: the solve is qacc = M^-1 f, both tangents are its derivative.
            free += 1
            np.testing.assert_allclose(ours_a, ours_u, rtol=0, atol=1e-12 * scale)
            assert np.array_equal(ours_a == 0.0, ours_u == 0.0)  # the same exact zeros
        else:
            # On the limit: never further from the oracle than the unrolled tangent (which
            # drifts from it, 2e-9 of the largest entry, then 18x, as the arm comes to rest).
            err_a = np.abs(ours_a - ref)[:, smooth].max() / scale
            err_u = np.abs(ours_u - ref)[:, smooth].max() / scale
            assert err_a <= max(err_u, 1e-9), (err_a, err_u)
    # Both paths are exercised: the impact on the limit is a solve cut off at its one
    # iteration (redone unrolled); free swinging and resting on the limit converge.
    assert kept >= 30 and redone >= 1 and free >= 10, (kept, redone, free)


def test_env_batch_auto_matches_the_rollout_and_counts_its_calls(reacher):
    env, info, actions, auto, _, _ = reacher
    batch = EnvBatch(env, info, 1)  # solver_tangent="auto" is the default
    with pytest.raises(RuntimeError, match="reset"):
        batch.prepare()
    batch.reset([0])
    batch.prepare()  # the unrolled fallback compiled now, not at the impact
    for t in range(STEPS):
        step = batch.step(actions[t][None])
        np.testing.assert_array_equal(step.jac_state[0], auto[t].jac_state)
        np.testing.assert_array_equal(step.jac_action[0], auto[t].jac_action)
    stats = batch.tangent_stats
    assert stats.implicit == sum(s.solver_exact for s in auto)
    assert stats.redone == STEPS - stats.implicit and stats.unrolled == 0


def test_bad_solver_tangent_names_the_choices(reacher):
    env, info, *_ = reacher
    with pytest.raises(ValueError, match="auto"):
        EnvBatch(env, info, 1, solver_tangent="reverse")


def test_tangent_stats_skips_the_implicit_step_when_it_mostly_needs_redoing():
    stats = TangentStats(window=4, max_rate=0.5, skip=3)
    for redo in (True, False, True, False):  # 2 of 4 redone: at the rate, skip
        assert stats.try_implicit()
        stats.record(redo)
    assert [stats.try_implicit() for _ in range(4)] == [False, False, False, True]
    assert (stats.implicit, stats.redone, stats.unrolled) == (2, 2, 3)
    for _ in range(4):  # all kept: never skips
        stats.record(False)
        assert stats.try_implicit()
    for _ in range(4):  # all redone again: the next skip is twice as long
        stats.record(True)
    assert [stats.try_implicit() for _ in range(7)] == [False] * 6 + [True]


def test_check_keeps_a_jacobian_only_where_it_is_the_derivative_along_v():
    """solver_tangent.check on planted rows (host, batched): agreement with the unrolled
    tangent, a disagreement the difference settles either way, and non-finite entries."""
    rng = np.random.default_rng(1)
    jac = rng.standard_normal((5, 3, 4))
    v = solver_tangent.check_direction(4)
    jv = jac @ v
    scale = np.abs(jac).max(axis=(1, 2)) * np.abs(v).sum()
    unrolled, fd = jv.copy(), jv.copy()
    unrolled[1, 0] += 1e-5 * scale[1]  # tangents differ, the difference sides with J: kept
    unrolled[2, 0] += 1e-3 * scale[2]  # ... and sides with the unrolled tangent: redone
    fd[2] = unrolled[2]
    unrolled[3, 0] += 1e-3 * scale[3]  # ... and with neither: redone
    fd[3, 0] += 2e-3 * scale[3]
    jac[4, 0, 0] = np.nan  # not finite: redone
    got = solver_tangent.check(jac, v, unrolled, fd)
    assert got.tolist() == [True, True, False, False, False]
    # Within the tolerance (1e-9 of max|J| sum|v|) the two tangents count as equal.
    near = jv + 0.5 * solver_tangent.CHECK_RTOL * scale[:, None]
    assert solver_tangent.check(jac[:4], v, near[:4], near[:4] + 1.0).all()


def test_exact_rows_asks_for_the_difference_only_for_calls_that_disagree():
    """auto_tangent.exact_rows: a call whose every J v equals the unrolled tangent is decided
    without the centered difference (agrees); a call with one disagreeing row gets its
    difference, and the check it decides is solver_tangent.check's on the whole call."""
    from types import SimpleNamespace

    from jacwrap.auto_tangent import exact_rows

    rng = np.random.default_rng(2)
    n, m, rows = 3, 1, 4
    jac = rng.standard_normal((2, rows, n, n + m))
    v = solver_tangent.check_direction(n + m)
    jv = jac @ v
    unrolled = jv.copy()
    unrolled[1, 2, 0] += 1e-3  # call 1, row 2: the tangents disagree
    fd = jv.copy()  # ... and the difference sides with J: kept
    results = [SimpleNamespace(jac_state=j[..., :n], jac_action=j[..., n:]) for j in jac]
    asked = []

    def difference(i):
        asked.append(i)
        return jnp.asarray(fd[i])

    got = exact_rows(results, list(unrolled), difference)
    assert asked == [1]
    assert got[0].tolist() == [True] * rows
    assert got[1].tolist() == solver_tangent.check(jac[1], v, unrolled[1], fd[1]).tolist()
    assert got[1].tolist() == [True] * rows
    fd[1, 2] = unrolled[1, 2]  # the difference sides with the unrolled tangent: redone
    asked.clear()
    got = exact_rows(results, list(unrolled), difference)
    assert asked == [1] and got[1].tolist() == [True, True, False, True]
    assert solver_tangent.agrees(jac[0], v, unrolled[0]).all()
    assert solver_tangent.agrees(jac[1], v, unrolled[1]).tolist() == [True, True, False, True]
