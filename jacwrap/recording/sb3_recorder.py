"""``SB3Recorder``: record every step of a Stable-Baselines3 VecEnv (the ``sb3`` extra)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from jacwrap._extras import require

require("sb3", "stable_baselines3")

from stable_baselines3.common.vec_env import VecEnvWrapper  # noqa: E402

from jacwrap.recording import schema  # noqa: E402
from jacwrap.recording.recorder import RecordingSink  # noqa: E402
from jacwrap.sb3_env import JacobianVecEnv  # noqa: E402


def _sb3_reward_dtype(base) -> str:
    """jacwrap's SB3 VecEnv keeps the float64 reward in its infos; other VecEnvs do not."""
    return "float64" if isinstance(base, JacobianVecEnv) else "float32 (SB3 VecEnv)"


class SB3Recorder(VecEnvWrapper):
    """Record every step of a :func:`jacwrap.make_sb3` VecEnv (``PPO(..., SB3Recorder(venv,
    "run.jwr"))``). SB3 passes rewards as float32; the float64 ``reward`` that
    jacwrap's SB3 VecEnv puts in its infos is recorded instead. Same arguments as :class:`RecorderWrapper`.
    """

    def __init__(
        self,
        venv,
        path: str | os.PathLike,
        *,
        policy: str = "",
        jac_dtype: str = "float64",
        overwrite: bool = False,
        extra: dict | None = None,
        **writer_kwargs: Any,
    ):
        super().__init__(venv)
        obs_dim = int(np.prod(venv.observation_space.shape))
        base = venv.unwrapped if hasattr(venv, "unwrapped") else venv
        self._sink = RecordingSink(
            path,
            base,
            obs_dim,
            policy,
            jac_dtype,
            overwrite,
            {"reward_dtype": _sb3_reward_dtype(base), **(extra or {})},
            writer_kwargs,
        )
        self._obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None
        self._running = np.zeros(venv.num_envs, bool)

    @property
    def path(self) -> Path:
        return self._sink.path

    def reset(self):
        base = self.venv.unwrapped
        seeds = base.pending_seeds if isinstance(base, JacobianVecEnv) else [None]
        writer = self._sink.open(seeds[0] if seeds and isinstance(seeds[0], int) else None)
        for i in np.flatnonzero(self._running):
            writer.end_episode(int(i))
        obs = self.venv.reset()
        self._obs = np.asarray(obs)
        self._running[:] = False
        return obs

    def step_async(self, actions) -> None:
        self._actions = np.asarray(actions)
        self.venv.step_async(actions)

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        dones = np.asarray(dones, bool)
        truncated = np.array([bool(i.get("TimeLimit.truncated", False)) for i in infos]) & dones
        reward = np.array([i.get("reward", r) for i, r in zip(infos, rewards, strict=True)])
        base = self.venv.unwrapped
        if isinstance(base, JacobianVecEnv):  # the batch's own step result, not its infos
            stacked = schema.step_columns(base.last_step)
        else:
            per_env = [schema.info_columns(i) for i in infos]
            stacked = {k: np.stack([c[k] for c in per_env]) for k in per_env[0]}
        n = self._obs.shape[0]
        self._sink.writer.add_batch(
            obs=self._obs,
            action=self._actions.reshape(n, -1),
            reward=reward,
            terminated=dones & ~truncated,
            truncated=truncated,
            **stacked,
        )
        self._obs = np.asarray(obs)
        self._running = ~dones
        return obs, rewards, dones, infos

    def close(self) -> None:
        self._sink.close()
        self.venv.close()
