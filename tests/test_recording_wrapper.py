"""Recorder logic on a scripted stand-in env (no simulator): episode ends, resets, the
close-at-exit hook, refusals. The real envs are covered in test_recording_env.py."""

from __future__ import annotations

import gc

import gymnasium as gym
import numpy as np
import pytest

from jacwrap.batch import BatchStep
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


class ScriptedBatch:
    """Deterministic stand-in for a jacwrap batch of one env (the ``Batch`` protocol, no
    simulator): truncates after 4 steps, J_s[0, 1] alternates between 0.01 and 0."""

    num_envs, obs_dim, threshold = 1, 3, 1e-12
    info = INFO

    def __init__(self, jacobians: bool = True):
        self.jacobians = jacobians
        self.k = 0
        self.last_obs = self.last_step = None
        self.last_episode_length = np.zeros(1, np.int64)

    def reset(self, seeds):
        self.t, self.s = 0, np.array([float(seeds[0] or 0), 0.0])
        self.last_obs, self.last_step = np.zeros((1, 3), np.float32), None
        return self.last_obs, self.s[None]

    def step(self, actions):
        self.k += 1
        self.t += 1
        a = np.asarray(actions, np.float64).reshape(1, 1)
        s, self.s = self.s, self.s + [0.01, float(a[0, 0])]
        js = np.array([[1.0, 0.01 * (self.k % 2)], [0.0, 1.0]])
        ja = np.array([[0.0], [1.0]])
        sparsity = [0.5 - 0.25 * (self.k % 2), 0.5, (3 - (self.k % 2)) / 6]
        obs = np.full((1, 3), self.k, np.float32)
        self.last_obs = obs
        self.last_step = BatchStep(
            obs=obs,
            action=a,
            reward=np.array([float(self.k)]),
            terminated=np.array([False]),
            truncated=np.array([self.t >= 4]),
            state=s[None],
            next_state=self.s[None].copy(),
            jac_state=js[None],
            jac_action=ja[None],
            sparsity=np.array([sparsity]),
            finite=np.array([True]),
            final_obs=obs,
            reset_state=self.s[None].copy(),
            contacts=np.zeros((1, 0), bool),
            contacts_start=np.zeros((1, 0), bool),
            n_contacts=np.zeros(1, np.int32),
            n_constraints=np.zeros(1, np.int32),
        )
        return self.last_step


class ScriptedEnv(gym.Env):
    """A Gymnasium adapter over :class:`ScriptedBatch`, exposing it as ``batch``."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, jacobians: bool = True):
        self.batch = ScriptedBatch(jacobians)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        obs, s = self.batch.reset([seed])
        return obs[0], {"state": s[0]}

    def step(self, action):
        b = self.batch.step(np.asarray(action)[None])
        return b.obs[0], float(b.reward[0]), False, bool(b.truncated[0]), {}


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
