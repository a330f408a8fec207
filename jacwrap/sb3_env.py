"""The Stable-Baselines3 ``VecEnv`` adapter (needs the ``sb3`` extra: ``pip install
'jacwrap[sb3]'``). It steps the same batch as :class:`jacwrap.vector_env.JacobianVectorEnv`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jacwrap._extras import require

require("sb3", "stable_baselines3")

from stable_baselines3.common.vec_env.base_vec_env import VecEnv  # noqa: E402

from jacwrap.gym_env import action_space, observation_space, render_fps, step_info  # noqa: E402
from jacwrap.render.frames import DEFAULT_HEIGHT, DEFAULT_WIDTH  # noqa: E402
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD  # noqa: E402
from jacwrap.vector_env import (  # noqa: E402
    BatchedAdapter,
    batch_frames,
    close_batch,
    make_adapter,
)


class JacobianVecEnv(BatchedAdapter, VecEnv):
    """Stable-Baselines3 ``VecEnv`` over :class:`jacwrap.batch.EnvBatch`.

    Drop-in for an SB3 script: ``PPO("MlpPolicy", jacwrap.make_sb3("CheetahRun", 16))``.
    Each ``infos[i]`` holds the keys of :class:`jacwrap.JacobianWrapper` (views into the
    batch arrays, no copies), plus ``terminal_observation`` and ``TimeLimit.truncated``
    where an episode ended, as SB3 expects; observations are auto-reset. ``infos[i]["reward"]``
    keeps the float64 reward (SB3 hands the algorithm float32 rewards).

    With ``render_mode="rgb_array"``, ``get_images()`` returns each env's frame and SB3's
    ``render()`` tiles them (``VecVideoRecorder`` works on it); ``metadata["render_fps"]``
    is one frame per control step.
    """

    def __init__(
        self,
        env: Any,
        num_envs: int,
        *,
        name: str | None = None,
        config_overrides: dict | None = None,
        **options: Any,
    ):
        """``options``: the fields of :class:`jacwrap.vector_env.AdapterOptions`."""
        self._build(env, num_envs, name, config_overrides, **options)
        super().__init__(  # reads self.render_mode through get_attr
            num_envs,
            observation_space(self._batch.obs_dim),
            action_space(self.env_info),
        )
        self.metadata["render_fps"] = render_fps(self.env_info)
        self._actions: np.ndarray | None = None
        self._seeds: list[int | None] = [None] * num_envs
        self._returns = np.zeros(num_envs)

    @property
    def pending_seeds(self) -> list[int | None]:
        """The seeds the next :meth:`reset` uses (set by :meth:`seed`; None: fresh entropy)."""
        return list(self._seeds)

    def reset(self):
        obs, _ = self._batch.reset(self._seeds)
        self._seeds = [None] * self.num_envs
        self._returns[:] = 0.0
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def seed(self, seed: int | None = None):
        self._seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        return self._seeds

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        b = self._batch.step(self._actions.reshape(self.num_envs, -1))
        dones = b.terminated | b.truncated
        self._returns += b.reward
        infos = []
        for i in range(self.num_envs):
            info = step_info(b, i, self.jacobians)
            info["reward"] = float(b.reward[i])  # SB3 passes rewards as float32
            if dones[i]:
                info["terminal_observation"] = b.final_obs[i]
                info["TimeLimit.truncated"] = bool(b.truncated[i])
                info["episode"] = {
                    "r": float(self._returns[i]),
                    "l": int(self._batch.last_episode_length[i]),
                }
                self._returns[i] = 0.0
            infos.append(info)
        return b.obs, b.reward.astype(np.float32), dones, infos

    def close(self) -> None:
        close_batch(self._frames, self._batch)

    def get_attr(self, attr_name: str, indices=None):
        return [getattr(self, attr_name) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args, indices=None, **kwargs):
        return [getattr(self, method_name)(*args, **kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False for _ in self._indices(indices)]

    def get_images(self):
        """Each env's frame of its current state (``None`` each without a render mode)."""
        if self.render_mode is None:
            return [None for _ in range(self.num_envs)]
        return batch_frames(self._frames, self._batch)

    def _indices(self, indices):
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return indices


def make_sb3(
    name: str,
    num_envs: int,
    *,
    jacobians: bool = True,
    threshold: float = GROUND_TRUTH_THRESHOLD,
    workers: int = 1,
    render_mode: str | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    camera: int | str | None = None,
    **config_overrides: Any,
):
    """Stable-Baselines3 ``VecEnv`` of ``num_envs`` copies of a registered task
    (``workers`` as in :func:`make_vec`)."""
    return make_adapter(
        JacobianVecEnv,
        name,
        num_envs,
        config_overrides,
        jacobians=jacobians,
        threshold=threshold,
        workers=workers,
        render_mode=render_mode,
        width=width,
        height=height,
        camera=camera,
    )
