"""Recorders and ``record_rollouts`` on a real env (CartpoleBalance, a few steps each)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

import jacwrap
from jacwrap.commands import record as record_cmd
from jacwrap.recording import (
    RecorderWrapper,
    RecordingExistsError,
    SB3Recorder,
    VectorRecorder,
    open_recording,
    record_env,
)

ENV = "CartpoleBalance"


@pytest.fixture(scope="module")
def single_env():
    return jacwrap.make(ENV, episode_length=5)


def _sp(info):
    return [info["sparsity"][k] for k in ("state", "action", "combined")]


def test_gymnasium_wrapper_records_what_the_env_returned(tmp_path, single_env):
    path = tmp_path / "single.jwr"
    env = record_env(single_env, path, policy="scripted")
    assert isinstance(env, RecorderWrapper)
    rng = np.random.default_rng(0)
    seen = []
    obs, _ = env.reset(seed=3)
    for steps in (5, 3):  # a whole (truncated) episode, then 3 steps of the next one
        for _ in range(steps):
            a = rng.uniform(-1, 1, size=1).astype(np.float32)
            nobs, r, term, trunc, info = env.step(a)
            seen.append((obs, a, r, term, trunc, info))
            obs = nobs
        if steps == 5:
            assert trunc
            obs, _ = env.reset(seed=4)
    env.recorder.close()  # (env.close() would close the shared env too)
    with pytest.raises(RecordingExistsError):
        RecorderWrapper(single_env, path)
    with open_recording(path) as rec:
        h = rec.header
        assert (h.env_name, h.seed, h.policy, h.n, h.m) == (ENV, 3, "scripted", 4, 1)
        assert h.state_labels == env.unwrapped.env_info.state_labels
        assert h.threshold == jacwrap.GROUND_TRUTH_THRESHOLD
        assert [(e.start, e.length, e.complete) for e in rec.episodes] == [
            (0, 5, True),
            (5, 3, False),
        ]
        s = rec.read(0, 8)
    assert np.array_equal(s.obs, np.stack([x[0] for x in seen]))
    assert np.array_equal(s.action, np.stack([x[1] for x in seen]).astype(np.float64))
    assert np.array_equal(s.reward, [x[2] for x in seen])
    assert np.array_equal(s.truncated, [x[4] for x in seen])
    for f in ("state", "next_state", "jac_state", "jac_action"):
        assert np.array_equal(getattr(s, f), np.stack([x[5][f] for x in seen])), f
    assert np.array_equal(s.sparsity, np.array([_sp(x[5]) for x in seen]))
    assert rec.episodes[0].ret == pytest.approx(sum(x[2] for x in seen[:5]))


def test_vector_recorder_separates_envs(tmp_path):
    path = tmp_path / "vec.jwr"
    venv = record_env(jacwrap.make_vec(ENV, 2, episode_length=3), path)
    assert isinstance(venv, VectorRecorder)
    obs, _ = venv.reset(seed=0)
    rng = np.random.default_rng(1)
    log = []
    for _ in range(5):
        a = rng.uniform(-1, 1, size=(2, 1))
        nobs, r, term, trunc, infos = venv.step(a)
        log.append((obs, a, r, trunc, infos["jac_state"].copy(), infos["state"].copy()))
        obs = nobs
    venv.close()
    with open_recording(path) as rec:
        eps = [(e.env_index, e.length, e.complete) for e in rec.episodes]
        assert sorted(eps) == [(0, 2, False), (0, 3, True), (1, 2, False), (1, 3, True)]
        for e in rec.episodes:
            s = rec.episode(e.index)
            t0 = 0 if e.complete else 3
            rows = log[t0 : t0 + e.length]
            i = e.env_index
            assert np.array_equal(s.obs, np.stack([x[0][i] for x in rows]))
            assert np.array_equal(s.action, np.stack([x[1][i] for x in rows]))
            assert np.array_equal(s.reward, [x[2][i] for x in rows])
            assert np.array_equal(s.jac_state, np.stack([x[4][i] for x in rows]))
            assert np.array_equal(s.state, np.stack([x[5][i] for x in rows]))
            assert s.truncated[-1] == e.complete


def test_sb3_recorder(tmp_path):
    path = tmp_path / "sb3.jwr"
    venv = record_env(jacwrap.make_sb3(ENV, 2, episode_length=3), path, policy="ppo")
    assert isinstance(venv, SB3Recorder)
    venv.seed(5)
    obs = venv.reset()
    rewards = []
    for _ in range(4):
        venv.step_async(np.zeros((2, 1), np.float32))
        obs, r, dones, infos = venv.step_wait()
        rewards.append(r)
    venv.close()
    with open_recording(path) as rec:
        assert rec.header.seed == 5 and rec.header.extra["reward_dtype"] == "float64"
        full = [e for e in rec.episodes if e.complete]
        assert sorted(e.env_index for e in full) == [0, 1]
        for e in full:
            s = rec.episode(e.index)
            assert np.array_equal(s.truncated, [False, False, True])
            # float64 rewards from the infos; SB3 itself saw them rounded to float32.
            assert s.reward.dtype == np.float64
            expected = [rewards[t][e.env_index] for t in range(3)]
            assert np.array_equal(s.reward.astype(np.float32), expected)
            assert not np.array_equal(s.reward, np.asarray(expected, np.float64))
            assert np.array_equal(s.action, np.zeros((3, 1)))
        assert sum(e.length for e in rec.episodes) == 8


def test_record_command_matches_a_replay(tmp_path, capsys, single_env):
    """``jacwrap record`` (record_rollouts on a batch of 2 envs) writes what a single env,
    seeded like env i of the batch and fed the recorded actions, computes."""
    parser = argparse.ArgumentParser()
    record_cmd.add_parser(parser.add_subparsers())
    argv = [
        "record",
        ENV,
        "--episodes",
        "3",
        "--max-steps",
        "4",
        "--num-envs",
        "2",
        "--seed",
        "2",
        "--out",
        str(tmp_path),
        "--jac-dtype",
        "float32",
        "--no-progress",
    ]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    path = capsys.readouterr().out.strip()
    assert path == str(tmp_path / f"{ENV}-random-seed2-3ep-f32.jwr")
    with open_recording(path) as rec:
        h = rec.header
        assert (h.seed, h.jac_dtype, h.extra["num_envs"]) == (2, "float32", 2)
        assert h.policy.startswith("random")
        assert [(e.length, e.complete) for e in rec.episodes] == [(4, True)] * 3
        assert sorted(e.env_index for e in rec.episodes) == [0, 0, 1]
        first = [rec.episode(i) for i in range(2)]
        envs = [rec.episodes[i].env_index for i in range(2)]
    for steps, i in zip(first, envs, strict=True):
        assert steps.jac_state.dtype == np.float32
        assert np.array_equal(steps.next_state[:-1], steps.state[1:])
        assert np.array_equal(steps.truncated, [False, False, False, True])
        single_env.reset(seed=2 + i)
        for t in range(4):
            _, r, _, _, info = single_env.step(steps.action[t])
            assert steps.reward[t] == pytest.approx(r, rel=1e-9, abs=1e-12)
            np.testing.assert_allclose(
                steps.next_state[t], info["next_state"], rtol=1e-9, atol=1e-12
            )
            np.testing.assert_allclose(steps.jac_state[t], info["jac_state"], rtol=1e-6, atol=1e-12)
            # the masks and sparsity come from float64, not from the stored float32
            assert np.array_equal(steps.zero_state[t], np.abs(info["jac_state"]) < 1e-12)
            assert steps.sparsity[t, 0] == info["sparsity"]["state"]
    with pytest.raises(RecordingExistsError, match="--overwrite"):
        args.func(args)
