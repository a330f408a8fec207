"""Jacobians of the wrapper against independent oracles (hand derivation, MuJoCo C FD).

Steps with an active constraint (joint limit, contact) are in ``test_fd_oracle.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from mjx_rollout import rollout
from toy_env import SliderEnv, analytic_jacobians

import jacwrap
from jacwrap.finite_differences import whole_step_fd


def test_toy_slider_matches_hand_derived_jacobians():
    env = jacwrap.JacobianWrapper(SliderEnv(), name="Slider")
    assert env.env_info.state_labels == ("qpos:slide", "qvel:slide")
    assert env.env_info.action_labels == ("act:push",)
    env.reset(seed=3)
    _, _, _, _, info = env.step(np.array([0.4], np.float32))
    js, ja = analytic_jacobians()
    np.testing.assert_allclose(info["jac_state"], js, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(info["jac_action"], ja, rtol=1e-12, atol=1e-15)
    # dv'/dq is a structural zero: exactly 0.0, so 1 of 4 state elements is zero.
    assert info["jac_state"][1, 0] == 0.0
    assert info["sparsity"] == {"state": 0.25, "action": 0.0, "combined": pytest.approx(1 / 6)}
    assert info["jac_state"].dtype == np.float64 and info["jac_finite"]


def test_saturated_control_has_exactly_zero_action_jacobian():
    # ctrl is clamped to [-1, 1]: beyond it the action has no effect, exactly.
    env = jacwrap.JacobianWrapper(SliderEnv(), name="Slider")
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([5.0], np.float32))
    assert np.all(info["jac_action"] == 0.0)
    assert info["sparsity"]["action"] == 1.0


# Tolerance: MJX (JAX, float64) and MuJoCo C agree to round-off in the physics; centered FD
# with eps=1e-6 has truncation/round-off error ~1e-8 relative, so entries above 1e-6 must
# agree to rtol 1e-5, and entries that are exactly zero in autodiff must be < 1e-7 in FD.
@pytest.mark.parametrize("name", ["CartpoleBalance", "ReacherHard"])
def test_playground_jacobians_match_mujoco_finite_differences(name):
    env = jacwrap.make(name)
    info = env.env_info
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (6, info.nu)).astype(np.float32)
    env.reset(seed=1)
    for a in actions[:5]:
        _, _, _, _, step = env.step(a)
    s = step["next_state"]
    action = actions[5]
    _, _, _, _, step = env.step(action)
    # The oracle starts from the env's solver warm start before the step: replay the same
    # compiled step on the MJX state to read it (the same trajectory, bit for bit).
    replay = rollout(env.playground_env, 1, actions)[-1]
    np.testing.assert_array_equal(replay.state, s)
    np.testing.assert_array_equal(replay.jac_state, step["jac_state"])
    fd = whole_step_fd(
        env.playground_env.mj_model,
        s[: info.nq],
        s[info.nq :],
        action,
        info.n_substeps,
        qacc_warmstart=replay.warmstart,
    )
    js_fd, ja_fd, s_next_c = fd.jac_state, fd.jac_action, fd.next_state
    assert not fd.kinks.any()
    np.testing.assert_allclose(step["next_state"], s_next_c, rtol=1e-8, atol=1e-10)
    for ours, fd in ((step["jac_state"], js_fd), (step["jac_action"], ja_fd)):
        big = np.abs(fd) > 1e-6
        np.testing.assert_allclose(ours[big], fd[big], rtol=1e-5)
        assert np.all(np.abs(fd[ours == 0.0]) < 1e-7)
        assert np.all(np.abs(ours[~big]) < 1e-5)


def test_translation_invariance_is_an_exact_zero_cartpole():
    env = jacwrap.make("CartpoleBalance")
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([0.3], np.float32))
    js = info["jac_state"]
    # Nothing depends on the cart position except the position itself: column 0 is e_0.
    np.testing.assert_array_equal(js[:, 0], [1.0, 0.0, 0.0, 0.0])
    assert info["sparsity"]["state"] == pytest.approx(3 / 16)
