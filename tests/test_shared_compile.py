"""Envs built one at a time share one traced and compiled step (issue: SB3's `make_vec_env`,
Gymnasium's `SyncVectorEnv`), and sharing changes no result."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import jacwrap
import jacwrap.batch as batch_module
from jacwrap.envs import load_playground
from jacwrap.gym_env import JacobianWrapper

NAME = "CartpoleBalance"
ENV_ID = f"jacwrap/{NAME}-v0"


@pytest.fixture
def count_traces(monkeypatch):
    """Forget the shared steps and count how often the Jacobian step is traced."""
    batch_module.clear_compiled()
    calls = []
    original = batch_module.jacobian_step

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(batch_module, "jacobian_step", counting)
    yield calls
    batch_module.clear_compiled()  # nothing compiled with the counting step outlives the test


def test_eight_gymnasium_make_envs_trace_the_step_once(count_traces):
    envs = [gym.make(ENV_ID) for _ in range(8)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
        env.step(np.zeros(1, np.float32))
    assert len(count_traces) == 1
    assert envs[0].unwrapped.playground_env is envs[7].unwrapped.playground_env


def test_sync_vector_env_traces_once_and_a_new_option_traces_again(count_traces):
    vec = gym.vector.SyncVectorEnv([lambda: gym.make(ENV_ID)] * 4)
    vec.reset(seed=0)
    for _ in range(3):
        vec.step(np.zeros((4, 1), np.float32))
    assert len(count_traces) == 1
    # Other options are another task as far as the step is concerned: traced on their own.
    other = gym.make(ENV_ID, episode_length=7)
    other.reset(seed=0)
    other.step(np.zeros(1, np.float32))
    assert len(count_traces) == 2


def _separately_built(n: int, episode_length: int) -> list[JacobianWrapper]:
    """Envs that each own their Playground env object, hence their own compiled step."""
    return [
        JacobianWrapper(load_playground(NAME, fresh=True, episode_length=episode_length), name=NAME)
        for _ in range(n)
    ]


def test_make_vec_env_envs_equal_separately_built_envs_step_by_step():
    from stable_baselines3.common.env_util import make_vec_env

    n, length, seed = 2, 5, 11
    vec = make_vec_env(ENV_ID, n_envs=n, seed=seed, env_kwargs={"episode_length": length})
    singles = _separately_built(n, length)
    for i, env in enumerate(singles):
        env.action_space.seed(seed + i)
    assert singles[0].playground_env is not singles[1].playground_env

    obs = vec.reset()
    ref = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(singles)])
    np.testing.assert_array_equal(obs, ref)
    actions = np.random.default_rng(0).uniform(-1, 1, (12, n, 1)).astype(np.float32)
    for t in range(12):  # crosses two episode ends (auto-reset draws from each env's RNG)
        obs, rewards, dones, infos = vec.step(actions[t])
        for i, env in enumerate(singles):
            o, r, term, trunc, info = env.step(actions[t, i])
            assert dones[i] == (term or trunc)
            np.testing.assert_array_equal(rewards[i], np.float32(r))
            for key in ("state", "next_state", "jac_state", "jac_action"):
                np.testing.assert_array_equal(infos[i][key], info[key])
            assert infos[i]["sparsity"] == info["sparsity"]
            if term or trunc:
                np.testing.assert_array_equal(infos[i]["terminal_observation"], o)
                o, _ = env.reset()
            np.testing.assert_array_equal(obs[i], o)
    assert vec.envs[0].unwrapped.playground_env is vec.envs[1].unwrapped.playground_env


def test_fresh_envs_do_not_share_and_shared_envs_do():
    assert load_playground(NAME) is load_playground(NAME)
    assert load_playground(NAME, episode_length=9) is not load_playground(NAME)
    assert load_playground(NAME, fresh=True) is not load_playground(NAME)
    a, b = jacwrap.make(NAME), jacwrap.make(NAME)
    assert a._batch._step is b._batch._step
    # A batch of another size is another compiled function (each compiles exactly once).
    assert jacwrap.make_vec(NAME, 2)._batch._step is not a._batch._step


def test_large_batch_runs_in_sub_batches_with_the_results_of_a_small_batch():
    """A batch over ``SUB_BATCH`` loops over sub-batches inside one compiled call (its compile
    does not grow with the batch); each env still gets exactly a small batch's results."""
    big_n = 130  # the paper's 128 envs and then some: 4 full sub-batches of 32, one padded
    big = jacwrap.make_vec(NAME, big_n, episode_length=6)
    small = jacwrap.make_vec(NAME, 4, episode_length=6)
    tail = list(range(big_n - 4, big_n))  # across the last sub-batch boundary
    big.reset(seed=0)
    small.reset(seed=tail)
    actions = np.random.default_rng(1).uniform(-1, 1, (8, big_n, 1))
    for t in range(8):  # crosses an auto-reset (episode length 6)
        ob, rb, tb, trb, ib = big.step(actions[t])
        os_, rs, ts, trs, is_ = small.step(actions[t, tail])
        np.testing.assert_allclose(ob[tail], os_, rtol=0, atol=1e-6)
        np.testing.assert_allclose(rb[tail], rs, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(trb[tail], trs)
        for key in ("next_state", "jac_state", "jac_action"):
            np.testing.assert_allclose(ib[key][tail], is_[key], rtol=1e-10, atol=1e-12)
            np.testing.assert_array_equal(np.abs(ib[key][tail]) < 1e-12, np.abs(is_[key]) < 1e-12)
    assert big._batch._step._cache_size() == 1
