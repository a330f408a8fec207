"""Recorder logic on a scripted stand-in env (no simulator): episode ends, resets, the
close-at-exit hook, refusals. The real envs are covered in test_recording_env.py."""

from __future__ import annotations

import gc

import gymnasium as gym
import numpy as np
import pytest

from jacwrap.envs import EnvInfo
from jacwrap.recording import (
    RecorderWrapper,
    RecordingError,
    RecordingExistsError,
    open_recording,
    record_env,
)
from jacwrap.recording.rollout import recording_name

INFO = EnvInfo(
    name="Scripted",
    nq=1,
    nv=1,
    nu=1,
    ctrl_dt=0.01,
    sim_dt=0.01,
    n_substeps=1,
    episode_length=4,
    state_labels=("qpos:x", "qvel:x"),
    action_labels=("act:f",),
    ctrl_low=(-1.0,),
    ctrl_high=(1.0,),
)


class ScriptedEnv(gym.Env):
    """Deterministic stand-in with jacwrap's info keys; truncates after 4 steps."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, jacobians: bool = True):
        self.env_info, self.threshold, self.jacobians = INFO, 1e-12, jacobians
        self.k = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.s = 0, np.array([float(seed or 0), 0.0])
        return np.zeros(3, np.float32), {"state": self.s}

    def step(self, action):
        self.k += 1
        self.t += 1
        s, self.s = self.s, self.s + [0.01, float(action[0])]
        js = np.array([[1.0, 0.01 * (self.k % 2)], [0.0, 1.0]])
        ja = np.array([[0.0], [1.0]])
        info = {
            "state": s,
            "next_state": self.s.copy(),
            "jac_state": js,
            "jac_action": ja,
            "sparsity": {
                "state": 0.5 - 0.25 * (self.k % 2),
                "action": 0.5,
                "combined": (3 - (self.k % 2)) / 6,
            },
            "jac_finite": True,
        }
        obs = np.full(3, self.k, np.float32)
        return obs, float(self.k), False, self.t >= 4, info


def test_wrapper_episodes_resets_and_data(tmp_path):
    path = tmp_path / "w.jwr"
    env = record_env(ScriptedEnv(), path, policy="scripted", extra={"run": 1})
    assert isinstance(env, RecorderWrapper)
    env.reset(seed=1)
    for _ in range(4):  # a whole episode (truncated at 4)
        env.step(np.array([0.5], np.float32))
    env.reset(seed=2)
    for _ in range(2):  # ended by the caller's reset
        env.step(np.array([-0.5], np.float32))
    env.reset(seed=3)
    env.step(np.array([0.25], np.float32))  # still running at close
    env.close()
    with open_recording(path) as rec:
        assert rec.header.seed == 1 and rec.header.extra["run"] == 1
        assert rec.header.extra["env_info"]["name"] == "Scripted"
        assert [(e.start, e.length, e.complete) for e in rec.episodes] == [
            (0, 4, True),
            (4, 2, True),
            (6, 1, False),
        ]
        s = rec.read(0, 7)
    assert np.array_equal(s.reward, [1, 2, 3, 4, 5, 6, 7])
    assert np.array_equal(s.obs[:, 0], [0, 1, 2, 3, 0, 5, 0])  # obs the action was taken on
    assert np.array_equal(s.action[:, 0], [0.5] * 4 + [-0.5] * 2 + [0.25])
    assert np.array_equal(s.truncated, [0, 0, 0, 1, 0, 0, 0])
    assert np.array_equal(s.state[4], [2.0, 0.0]) and np.array_equal(s.state[6], [3.0, 0.0])
    assert np.array_equal(s.sparsity[:2], [[0.25, 0.5, 2 / 6], [0.5, 0.5, 3 / 6]])
    assert np.array_equal(s.zero_state[:2, 0, 1], [False, True])


def test_unclosed_recorder_is_closed_when_collected(tmp_path):
    path = tmp_path / "leak.jwr"
    env = RecorderWrapper(ScriptedEnv(), path)
    env.reset(seed=0)
    env.step(np.array([0.0], np.float32))
    del env
    gc.collect()
    with open_recording(path) as rec:  # index written: no recovery needed
        assert rec.truncated_tail is None and rec.num_steps == 1


def test_refusals(tmp_path):
    path = tmp_path / "x.jwr"
    path.write_bytes(b"keep")
    with pytest.raises(RecordingExistsError):
        RecorderWrapper(ScriptedEnv(), path)
    RecorderWrapper(ScriptedEnv(), path, overwrite=True).reset(seed=0)
    with pytest.raises(RecordingError, match="jacobians=True"):
        RecorderWrapper(ScriptedEnv(jacobians=False), tmp_path / "y.jwr")
    with pytest.raises(TypeError, match="cannot record"):
        record_env(object(), tmp_path / "z.jwr")
    with pytest.raises(RuntimeError, match="reset"):
        RecorderWrapper(ScriptedEnv(), tmp_path / "z.jwr").step(np.zeros(1))


def test_default_file_names():
    assert recording_name("CheetahRun", "random", 3, 10, "float64") == (
        "CheetahRun-random-seed3-10ep.jwr"
    )
    assert recording_name("WalkerRun", "agents/ppo walker.zip", 0, 1, "float32") == (
        "WalkerRun-ppo_walker-seed0-1ep-f32.jwr"
    )
