"""Gymnasium / vector / SB3 adapters on the smallest real task (CartpoleBalance)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import jacwrap

NAME = "CartpoleBalance"


@pytest.fixture(scope="module")
def env():
    return jacwrap.make(NAME)


def test_unknown_name_lists_valid_names():
    with pytest.raises(jacwrap.UnknownEnvError) as err:
        jacwrap.make("CheetahRunn")
    msg = str(err.value)
    assert "CheetahRunn" in msg
    for name in jacwrap.PAPER_ENVS:
        assert name in msg


def test_spaces_labels_and_reset_info(env):
    assert env.observation_space.dtype == np.float32
    assert env.action_space.dtype == np.float32
    np.testing.assert_array_equal(env.action_space.low, [-1.0])
    obs, info = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape and obs.dtype == np.float32
    assert info["state"].shape == (4,)
    assert env.env_info.state_labels == (
        "qpos:slider",
        "qpos:hinge_1",
        "qvel:slider",
        "qvel:hinge_1",
    )


def test_gymnasium_env_checker(env):
    from gymnasium.utils.env_checker import check_env

    check_env(env, skip_render_check=True)


def test_sb3_env_checker(env):
    from stable_baselines3.common.env_checker import check_env

    check_env(env, warn=False)


def test_bad_action_shape_names_expected_shape(env):
    env.reset(seed=0)
    with pytest.raises(jacwrap.ActionError, match=r"\(1,\)"):
        env.step(np.zeros(3))
    with pytest.raises(jacwrap.ActionError, match="numeric"):
        env._batch.check_actions(np.array([["a"]]))


def test_nan_action_flags_nonfinite_and_terminates(env):
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step(np.array([np.nan], np.float32))
    assert info["jac_finite"] is False
    assert all(np.isnan(v) for v in info["sparsity"].values())
    assert term and not trunc


def test_state_chain_and_determinism(env):
    obs0, info0 = env.reset(seed=7)
    a = np.array([0.2], np.float32)
    _, _, _, _, i1 = env.step(a)
    np.testing.assert_array_equal(i1["state"], info0["state"])
    _, _, _, _, i2 = env.step(a)
    np.testing.assert_array_equal(i2["state"], i1["next_state"])
    obs0b, info0b = env.reset(seed=7)
    np.testing.assert_array_equal(obs0, obs0b)


def test_truncates_at_episode_length_and_compiles_once():
    env = jacwrap.make(NAME, episode_length=4)
    env.reset(seed=0)
    flags = []
    for _ in range(4):
        _, _, term, trunc, _ = env.step(np.zeros(1, np.float32))
        flags.append((term, trunc))
    assert flags == [(False, False)] * 3 + [(False, True)]
    vec = jacwrap.make_vec(NAME, 2, episode_length=4)
    vec.reset(seed=0)
    for _ in range(9):  # crosses two same-step auto-resets
        vec.step(np.zeros((2, 1)))
    # No hidden second compile: reset states have the step's exact array types.
    assert vec._batch._step._cache_size() == 1
    assert env._batch._step._cache_size() == 1


def test_vector_env_equals_single_env():
    seeds, steps, b = 10, 6, 2
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (steps, b, 1)).astype(np.float32)
    vec = jacwrap.make_vec(NAME, b)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    vobs, _ = vec.reset(seed=seeds)
    vres = [vec.step(actions[t]) for t in range(steps)]
    single = jacwrap.make(NAME)
    for i in range(b):
        obs, _ = single.reset(seed=seeds + i)
        np.testing.assert_allclose(obs, vobs[i], rtol=1e-6)
        for t in range(steps):
            o, r, _, _, info = single.step(actions[t, i])
            vo, vr, _, _, vinfo = vres[t]
            np.testing.assert_allclose(o, vo[i], rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(r, vr[i], rtol=1e-10)
            np.testing.assert_allclose(
                info["jac_state"], vinfo["jac_state"][i], rtol=1e-10, atol=1e-14
            )
            np.testing.assert_allclose(
                info["jac_action"], vinfo["jac_action"][i], rtol=1e-10, atol=1e-14
            )
            assert info["sparsity"]["combined"] == vinfo["sparsity"]["combined"][i]


def test_vector_autoreset_keeps_final_obs():
    vec = jacwrap.make_vec(NAME, 2, episode_length=3)
    vec.reset(seed=0)
    for _ in range(2):
        vec.step(np.zeros((2, 1)))
    obs, _, term, trunc, infos = vec.step(np.zeros((2, 1)))
    assert trunc.all() and not term.any()
    assert infos["_final_obs"].all() and infos["final_obs"][0].shape == obs[0].shape
    assert not np.allclose(infos["final_obs"][0], obs[0])  # obs is the next episode's first
    assert infos["final_info"]["episode_steps"].tolist() == [3, 3]
    np.testing.assert_array_equal(infos["state"].shape, (2, 4))
    assert infos["_jac_state"].all()


def test_vector_nan_action_only_flags_that_env():
    vec = jacwrap.make_vec(NAME, 2)
    vec.reset(seed=0)
    _, _, term, _, infos = vec.step(np.array([[np.nan], [0.1]]))
    assert infos["jac_finite"].tolist() == [False, True]
    assert term.tolist() == [True, False]
    assert np.isnan(infos["sparsity"]["state"][0]) and np.isfinite(infos["sparsity"]["state"][1])
    with pytest.raises(jacwrap.ActionError, match=r"\(2, 1\)"):
        vec.step(np.zeros((3, 1)))


def test_gymnasium_registered_ids():
    env = gym.make(f"jacwrap/{NAME}-v0")
    assert isinstance(env.unwrapped, jacwrap.JacobianWrapper)
    vec = gym.make_vec(f"jacwrap/{NAME}-v0", num_envs=2, vectorization_mode="vector_entry_point")
    assert isinstance(vec.unwrapped, jacwrap.JacobianVectorEnv) and vec.num_envs == 2


def test_sb3_vecenv_infos_and_ppo_trains():
    from stable_baselines3 import PPO

    venv = jacwrap.make_sb3(NAME, 4, episode_length=20)
    obs = venv.reset()
    assert obs.shape == (4, 5)
    ep_done = False
    for _ in range(20):
        venv.step_async(np.zeros((4, 1)))
        obs, rew, dones, infos = venv.step_wait()
        assert infos[0]["jac_state"].shape == (4, 4)
        # No per-step copy: infos are views into the batch arrays.
        assert infos[1]["jac_state"].base is infos[0]["jac_state"].base
        ep_done = ep_done or dones.all()
    assert ep_done and infos[0]["TimeLimit.truncated"] is True
    assert infos[0]["terminal_observation"].shape == (5,)
    plain = jacwrap.make_sb3(NAME, 8, jacobians=False)
    model = PPO("MlpPolicy", plain, n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=2048)
    assert model.num_timesteps >= 2048


def test_env_list_matches_playground():
    from mujoco_playground import dm_control_suite

    from jacwrap.envs import EXCLUDED_ENVS

    assert sorted(jacwrap.available_envs() + list(EXCLUDED_ENVS)) == sorted(
        dm_control_suite.ALL_ENVS
    )
    for name in EXCLUDED_ENVS:  # really not (qpos, qvel) in a tangent space
        with pytest.raises(jacwrap.UnsupportedEnvError):
            from jacwrap.envs import describe

            describe(dm_control_suite.load(name, config_overrides={"impl": "jax"}), name)


def test_import_is_light():
    import subprocess
    import sys

    code = "import jacwrap, sys; print('mujoco_playground' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_float32_model_is_refused_with_a_clear_error():
    """A Playground env built while x64 was off holds a float32 model: no float64 Jacobians."""
    import jax
    from mujoco_playground import dm_control_suite

    from jacwrap.batch import EnvBatch
    from jacwrap.envs import describe

    jacwrap.make_sb3(NAME, 1, jacobians=False)  # x64 on for this process
    with jax.enable_x64(False):
        env = dm_control_suite.load(NAME, config_overrides={"impl": "jax"})
    assert env.mjx_model.qpos0.dtype == "float32"
    with pytest.raises(jacwrap.UnsupportedEnvError, match="float32, not float64"):
        EnvBatch(env, describe(env, NAME), 2)


def test_reset_is_traced_once_from_construction_to_first_step():
    """Start-up cost: the dtype check and the observation size must not trace reset again."""
    from jacwrap.envs import load_playground
    from jacwrap.gym_env import JacobianWrapper

    env = load_playground(NAME, fresh=True)
    calls = []
    original = env.reset
    env.reset = lambda rng: calls.append(1) or original(rng)
    wrapper = JacobianWrapper(env, name=NAME)
    assert wrapper.observation_space.shape == (5,)
    wrapper.reset(seed=0)
    wrapper.step(np.zeros(1, np.float32))
    assert len(calls) == 1
