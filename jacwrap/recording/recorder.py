"""Recorders: one extra line in a training script writes every step to a ``.jwr`` file.

- :class:`RecorderWrapper` wraps a single env from :func:`jacwrap.make` (Gymnasium).
- :class:`VectorRecorder` wraps a Gymnasium vector env from :func:`jacwrap.make_vec`.
- :class:`jacwrap.recording.sb3_recorder.SB3Recorder` wraps a Stable-Baselines3 VecEnv from
  :func:`jacwrap.make_sb3` (the ``sb3`` extra).

All three are thin shells over :class:`StepRecorder`, which reads each step from the
adapter's batch (:class:`jacwrap.batch_protocol.Batch`: its ``last_obs`` and ``last_step``),
not from ``info`` dicts, so what is recorded is what the batch computed, whatever wrappers
sit between (observation normalisation, action rescaling): the observation and action the
simulator saw. The wrapped env must be a jacwrap env with ``jacobians=True``. The file is
created at the first ``reset`` (so the header can carry its seed) but an existing file is
refused at construction (``overwrite=True`` replaces it). ``close()`` writes the index; a
recorder that is never closed is closed at interpreter exit, and a killed process still
leaves every written chunk readable.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorWrapper

from jacwrap import schema
from jacwrap.batch_protocol import Batch
from jacwrap.recording.errors import RecordingError, RecordingExistsError
from jacwrap.recording.header import RecordingHeader
from jacwrap.recording.writer import RecordingWriter


def batch_of(env: Any, path: object) -> Batch:
    """The :class:`Batch` under a jacwrap adapter (``env.unwrapped.batch``), or a
    :class:`RecordingError` saying what a recorder needs."""
    base = getattr(env, "unwrapped", env)
    batch = getattr(base, "batch", None)
    if batch is None or not getattr(batch, "jacobians", False):
        raise RecordingError(
            f"{path}: a recorder needs a jacwrap env with jacobians=True "
            f"(jacwrap.make / make_vec / make_sb3), got {type(env).__name__}"
        )
    return batch


class StepRecorder:
    """Writes every step of a :class:`Batch` to ``path``: the core of every recorder.

    Call :meth:`start` before a reset (it opens the file at the first one and ends the
    episodes in progress as complete), :meth:`after_reset` after it, and
    :meth:`after_step` after each step; ``rows`` limits a step to some envs (the rollouts'
    last episodes). ``contacts`` records the contact fields where the batch has them.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        batch: Batch,
        *,
        policy: str = "",
        jac_dtype: str = "float64",
        overwrite: bool = False,
        extra: dict | None = None,
        contacts: bool = True,
        **writer_kwargs: Any,
    ):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise RecordingExistsError(
                f"{self.path}: a file already exists (pass overwrite=True to replace it)"
            )
        self.batch = batch
        self._header = dict(
            threshold=float(batch.threshold),
            jac_dtype=jac_dtype,
            policy=policy,
            extra=extra,
            contacts=contacts,
        )
        self._overwrite = overwrite
        self._writer_kwargs = writer_kwargs
        self.writer: RecordingWriter | None = None
        self._finalizer: weakref.finalize | None = None
        self._obs: np.ndarray | None = None
        self._running = np.zeros(batch.num_envs, bool)

    def start(self, seed: int | None) -> RecordingWriter:
        """Before a reset: open the file (first call) and end the episodes in progress."""
        if self.writer is None:
            header = RecordingHeader.from_env_info(
                self.batch.info, self.batch.obs_dim, seed=seed, **self._header
            )
            os.makedirs(self.path.parent, exist_ok=True)
            self.writer = RecordingWriter(
                self.path, header, overwrite=self._overwrite, **self._writer_kwargs
            )
            self._finalizer = weakref.finalize(self, self.writer.close)
        for i in np.flatnonzero(self._running):
            self.writer.end_episode(int(i))
        self._running[:] = False
        return self.writer

    def after_reset(self) -> None:
        """After a reset: the observations the next actions are taken on."""
        self._obs = np.array(self.batch.last_obs)

    def check_started(self) -> None:
        """Before a step: ``RuntimeError`` unless a reset came first."""
        if self.writer is None or self._obs is None:
            raise RuntimeError("call reset() before step()")

    def after_step(self, rows: np.ndarray | None = None) -> None:
        """After a step: write it (``rows``: only those envs) from the batch's step result."""
        step = self.batch.last_step
        if step is None:
            self.check_started()
            raise RuntimeError("the batch has no step to record (reset since?)")
        groups = self.writer.header.groups
        cols = {"obs": self._obs, **schema.step_columns(step, groups)}
        if rows is not None:
            cols = {k: v[rows] for k, v in cols.items()}
        env_indices = None if rows is None else rows
        self.writer.add_batch(**cols, env_indices=env_indices)
        self._obs = np.array(step.obs)
        self._running = ~(step.terminated | step.truncated)

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()


class RecorderWrapper(gym.Wrapper):
    """Record every step of a :func:`jacwrap.make` env to ``path``.

    >>> env = RecorderWrapper(jacwrap.make("CheetahRun"), "runs/cheetah.jwr")  # doctest: +SKIP

    A ``reset`` in the middle of an episode ends that episode (as complete: the caller
    chose to end it). Arguments: ``policy`` (a description stored in the header),
    ``jac_dtype`` (``"float64"`` or ``"float32"``), ``overwrite``, ``extra`` (dict stored
    in the header), ``contacts`` and keyword arguments of :class:`RecordingWriter`
    (:class:`StepRecorder`).
    """

    def __init__(self, env: gym.Env, path: str | os.PathLike, **kwargs: Any):
        super().__init__(env)
        self.recorder = StepRecorder(path, batch_of(env, path), **kwargs)

    @property
    def path(self) -> Path:
        return self.recorder.path

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.recorder.start(seed)
        out = self.env.reset(seed=seed, options=options)
        self.recorder.after_reset()
        return out

    def step(self, action):
        self.recorder.check_started()
        out = self.env.step(action)
        self.recorder.after_step()
        return out

    def close(self):
        self.recorder.close()
        super().close()


class VectorRecorder(VectorWrapper):
    """Record every step of every env of a :func:`jacwrap.make_vec` vector env.

    Episodes of different envs are written as separate, contiguous episodes (their
    ``env_index`` says which env ran them). A ``reset`` ends every episode in progress.
    Same arguments as :class:`RecorderWrapper`.
    """

    def __init__(self, env, path: str | os.PathLike, **kwargs: Any):
        super().__init__(env)
        mode = env.metadata.get("autoreset_mode")
        if mode is not None and getattr(mode, "name", str(mode)) != "SAME_STEP":
            raise RecordingError(f"{path}: VectorRecorder needs SAME_STEP autoreset, got {mode}")
        self.recorder = StepRecorder(path, batch_of(env, path), **kwargs)

    @property
    def path(self) -> Path:
        return self.recorder.path

    def reset(self, *, seed=None, options=None):
        self.recorder.start(seed if isinstance(seed, int) else None)
        out = self.env.reset(seed=seed, options=options)
        self.recorder.after_reset()
        return out

    def step(self, actions):
        self.recorder.check_started()
        out = self.env.step(actions)
        self.recorder.after_step()
        return out

    def close(self, **kwargs):
        self.recorder.close()
        return super().close(**kwargs)


def record_env(env: Any, path: str | os.PathLike, **kwargs: Any) -> Any:
    """Wrap any jacwrap env in the matching recorder: the one extra line in a script.

    >>> env = record_env(jacwrap.make_sb3("CheetahRun", 16), "ppo.jwr")  # doctest: +SKIP

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
