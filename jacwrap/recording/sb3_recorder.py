"""``SB3Recorder``: record every step of a Stable-Baselines3 VecEnv (the ``sb3`` extra)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jacwrap._extras import require

require("sb3", "stable_baselines3")

from stable_baselines3.common.vec_env import VecEnvWrapper  # noqa: E402

from jacwrap.recording.recorder import StepRecorder, batch_of  # noqa: E402


class SB3Recorder(VecEnvWrapper):
    """Record every step of a :func:`jacwrap.make_sb3` VecEnv (``PPO(..., SB3Recorder(venv,
    "run.jwr"))``), also under SB3 wrappers such as ``VecNormalize``: the steps come from
    the jacwrap VecEnv's batch (raw observations, float64 rewards, the applied actions).
    Same arguments as :class:`jacwrap.recording.recorder.RecorderWrapper`.
    """

    def __init__(self, venv, path: str | os.PathLike, *, extra: dict | None = None, **kwargs: Any):
        super().__init__(venv)
        base = venv.unwrapped if hasattr(venv, "unwrapped") else venv
        self._base = base
        self.recorder = StepRecorder(
            path, batch_of(base, path), extra={"reward_dtype": "float64", **(extra or {})}, **kwargs
        )

    @property
    def path(self) -> Path:
        return self.recorder.path

    def reset(self):
        seeds = getattr(self._base, "pending_seeds", [None])
        self.recorder.start(seeds[0] if seeds and isinstance(seeds[0], int) else None)
        obs = self.venv.reset()
        self.recorder.after_reset()
        return obs

    def step_async(self, actions) -> None:
        self.venv.step_async(actions)

    def step_wait(self):
        out = self.venv.step_wait()
        self.recorder.after_step()
        return out

    def close(self) -> None:
        self.recorder.close()
        self.venv.close()
