"""Recorders: one extra line in a training script writes every step to a ``.jwr`` file.

- :class:`RecorderWrapper` wraps a single env from :func:`jacwrap.make` (Gymnasium).
- :class:`VectorRecorder` wraps a Gymnasium vector env from :func:`jacwrap.make_vec`.
- :class:`jacwrap.recording.sb3_recorder.SB3Recorder` wraps a Stable-Baselines3 VecEnv from
  :func:`jacwrap.make_sb3` (the ``sb3`` extra).

They read the Jacobians from the ``info`` dicts, so the wrapped env must be a jacwrap env
with ``jacobians=True``. The file is created at the first ``reset`` (so the header can
carry its seed) but an existing file is refused at construction (``overwrite=True``
replaces it). ``close()`` writes the index; a recorder that is never closed is closed at
interpreter exit, and a killed process still leaves every written chunk readable.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorWrapper

from jacwrap.recording import schema
from jacwrap.recording.errors import RecordingError, RecordingExistsError
from jacwrap.recording.header import RecordingHeader
from jacwrap.recording.writer import RecordingWriter


class RecordingSink:
    """Creates the writer lazily (at the first reset) and closes it at exit if needed."""

    def __init__(
        self,
        path,
        env: Any,
        obs_dim: int,
        policy: str,
        jac_dtype: str,
        overwrite: bool,
        extra: dict | None,
        writer_kwargs: dict,
    ):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise RecordingExistsError(
                f"{self.path}: a file already exists (pass overwrite=True to replace it)"
            )
        # Every jacwrap adapter has env_info, threshold and jacobians (its batch's settings).
        info = getattr(env, "env_info", None)
        threshold = getattr(env, "threshold", None)
        if info is None or threshold is None or not getattr(env, "jacobians", False):
            raise RecordingError(
                f"{self.path}: a recorder needs a jacwrap env with jacobians=True "
                f"(jacwrap.make / make_vec / make_sb3), got {type(env).__name__}"
            )
        self._args = (info, obs_dim, float(threshold), jac_dtype, policy, overwrite, extra)
        self._writer_kwargs = writer_kwargs
        self.writer: RecordingWriter | None = None
        self._finalizer: weakref.finalize | None = None

    def open(self, seed: int | None) -> RecordingWriter:
        if self.writer is None:
            info, obs_dim, threshold, jac_dtype, policy, overwrite, extra = self._args
            header = RecordingHeader.from_env_info(
                info,
                obs_dim,
                threshold=threshold,
                jac_dtype=jac_dtype,
                policy=policy,
                seed=seed,
                extra=extra,
            )
            os.makedirs(self.path.parent, exist_ok=True)
            self.writer = RecordingWriter(
                self.path, header, overwrite=overwrite, **self._writer_kwargs
            )
            self._finalizer = weakref.finalize(self, self.writer.close)
        return self.writer

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()


class RecorderWrapper(gym.Wrapper):
    """Record every step of a :func:`jacwrap.make` env to ``path``.

    >>> env = RecorderWrapper(jacwrap.make("CheetahRun"), "runs/cheetah.jwr")

    A ``reset`` in the middle of an episode ends that episode (as complete: the caller
    chose to end it). Arguments: ``policy`` (a description stored in the header),
    ``jac_dtype`` (``"float64"`` or ``"float32"``), ``overwrite``, ``extra`` (dict stored
    in the header) and keyword arguments of :class:`RecordingWriter`.
    """

    def __init__(
        self,
        env: gym.Env,
        path: str | os.PathLike,
        *,
        policy: str = "",
        jac_dtype: str = "float64",
        overwrite: bool = False,
        extra: dict | None = None,
        **writer_kwargs: Any,
    ):
        super().__init__(env)
        obs_dim = int(np.prod(env.observation_space.shape))
        self._sink = RecordingSink(
            path, env.unwrapped, obs_dim, policy, jac_dtype, overwrite, extra, writer_kwargs
        )
        self._obs: np.ndarray | None = None
        self._in_episode = False

    @property
    def path(self) -> Path:
        return self._sink.path

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        writer = self._sink.open(seed)
        if self._in_episode:
            writer.end_episode(0)
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = np.asarray(obs)
        self._in_episode = False
        return obs, info

    def step(self, action):
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._sink.writer.add(
            0,
            obs=self._obs,
            action=action,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            **schema.info_columns(info),
        )
        self._obs = np.asarray(obs)
        self._in_episode = not (terminated or truncated)
        return obs, reward, terminated, truncated, info

    def close(self):
        self._sink.close()
        super().close()


class VectorRecorder(VectorWrapper):
    """Record every step of every env of a :func:`jacwrap.make_vec` vector env.

    Episodes of different envs are written as separate, contiguous episodes (their
    ``env_index`` says which env ran them). A ``reset`` ends every episode in progress.
    Same arguments as :class:`RecorderWrapper`.
    """

    def __init__(
        self,
        env,
        path: str | os.PathLike,
        *,
        policy: str = "",
        jac_dtype: str = "float64",
        overwrite: bool = False,
        extra: dict | None = None,
        **writer_kwargs: Any,
    ):
        super().__init__(env)
        mode = env.metadata.get("autoreset_mode")
        if mode is not None and getattr(mode, "name", str(mode)) != "SAME_STEP":
            raise RecordingError(f"{path}: VectorRecorder needs SAME_STEP autoreset, got {mode}")
        obs_dim = int(np.prod(env.single_observation_space.shape))
        self._sink = RecordingSink(
            path, env.unwrapped, obs_dim, policy, jac_dtype, overwrite, extra, writer_kwargs
        )
        self._obs: np.ndarray | None = None
        self._running = np.zeros(env.num_envs, bool)

    @property
    def path(self) -> Path:
        return self._sink.path

    def reset(self, *, seed=None, options=None):
        writer = self._sink.open(seed if isinstance(seed, int) else None)
        for i in np.flatnonzero(self._running):
            writer.end_episode(int(i))
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = np.asarray(obs)
        self._running[:] = False
        return obs, info

    def step(self, actions):
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, truncated, infos = self.env.step(actions)
        self._sink.writer.add_batch(
            obs=self._obs,
            action=actions,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            **schema.info_columns(infos),
        )
        self._obs = np.asarray(obs)
        self._running = ~(np.asarray(terminated) | np.asarray(truncated))
        return obs, reward, terminated, truncated, infos

    def close(self, **kwargs):
        self._sink.close()
        return super().close(**kwargs)


def record_env(env: Any, path: str | os.PathLike, **kwargs: Any) -> Any:
    """Wrap any jacwrap env in the matching recorder: the one extra line in a script.

    >>> env = record_env(jacwrap.make_sb3("CheetahRun", 16), "runs/ppo.jwr", policy="ppo")

    A Gymnasium ``Env`` gets :class:`RecorderWrapper`, a Gymnasium ``VectorEnv``
    :class:`VectorRecorder`, a Stable-Baselines3 ``VecEnv`` ``SB3Recorder``; keyword
    arguments are passed on.
    """
    import sys

    from gymnasium.vector import VectorEnv

    # An SB3 VecEnv exists only where Stable-Baselines3 is imported: do not import it here.
    if "stable_baselines3" in sys.modules:
        from stable_baselines3.common.vec_env import VecEnv

        if isinstance(env, VecEnv):
            from jacwrap.recording.sb3_recorder import SB3Recorder

            return SB3Recorder(env, path, **kwargs)
    if isinstance(env, VectorEnv):
        return VectorRecorder(env, path, **kwargs)
    if isinstance(env, gym.Env):
        return RecorderWrapper(env, path, **kwargs)
    raise TypeError(f"cannot record a {type(env).__name__}: expected a jacwrap env")
