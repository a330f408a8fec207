"""The Gymnasium ``VectorEnv`` adapter, and what the batched adapters share.

Both batched adapters (this one and :class:`jacwrap.sb3_env.JacobianVecEnv`, which needs the
``sb3`` extra) compute the whole batch in one compiled call (:class:`jacwrap.batch.EnvBatch`)
and auto-reset finished episodes in the same step, keeping the final observation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from jacwrap import schema
from jacwrap.batch import EnvBatch
from jacwrap.batch_protocol import Batch
from jacwrap.envs import EnvInfo, describe, load_playground
from jacwrap.gym_env import (
    MAKE_KEYWORDS,
    action_space,
    check_config_overrides,
    current_states,
    observation_space,
    render_fps,
)
from jacwrap.render.frames import DEFAULT_HEIGHT, DEFAULT_WIDTH, RENDER_MODES, LazyRenderer
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD

#: Keywords of :func:`make_vec` / :func:`make_sb3`; any other must be a Playground config key.
VEC_KEYWORDS: tuple[str, ...] = (*MAKE_KEYWORDS, "workers")


def build_batch(
    env: Any,
    info: Any,
    num_envs: int,
    *,
    name: str | None,
    jacobians: bool,
    threshold: float,
    workers: int,
    config_overrides: dict | None,
) -> Batch:
    """The batch a batched adapter steps: one :class:`EnvBatch`, or, with ``workers > 1``,
    a :class:`jacwrap.parallel.ProcessEnvBatch` over that many processes (a registered
    ``name`` is needed to rebuild the env in each), the way to use several CPU cores.
    """
    if workers > 1:
        from jacwrap.envs import available_envs
        from jacwrap.errors import UnknownEnvError
        from jacwrap.parallel import ProcessEnvBatch

        if name not in available_envs():
            raise UnknownEnvError(str(name), available_envs())
        return ProcessEnvBatch(
            name,
            info,
            num_envs,
            workers=workers,
            jacobians=jacobians,
            threshold=threshold,
            config_overrides=config_overrides,
        )
    return EnvBatch(env, info, num_envs, jacobians=jacobians, threshold=threshold)


@dataclass(frozen=True)
class AdapterOptions:
    """The keyword options of both batched adapters (and of :func:`make_vec` and
    :func:`jacwrap.make_sb3`): Jacobians on, zero threshold, worker processes, rendering."""

    jacobians: bool = True
    threshold: float = GROUND_TRUTH_THRESHOLD
    workers: int = 1
    render_mode: str | None = None
    width: int = DEFAULT_WIDTH
    height: int = DEFAULT_HEIGHT
    camera: int | str | None = None


@dataclass(frozen=True)
class BatchedParts:
    """What both batched adapters are built from: renderer, env description and batch."""

    frames: LazyRenderer
    env_info: EnvInfo
    batch: Batch


def build_parts(
    env: Any, num_envs: int, name: str | None, config_overrides: dict | None, o: AdapterOptions
) -> BatchedParts:
    """The renderer (no GL context until the first frame), the env's description and its
    batch (:func:`build_batch`), for :class:`JacobianVectorEnv` and the SB3 VecEnv alike."""
    frames = LazyRenderer(
        env.mj_model, o.render_mode, width=o.width, height=o.height, camera=o.camera
    )
    info = describe(env, name)
    batch = build_batch(
        env,
        info,
        num_envs,
        name=name,
        jacobians=o.jacobians,
        threshold=o.threshold,
        workers=o.workers,
        config_overrides=config_overrides,
    )
    return BatchedParts(frames, info, batch)


class BatchedAdapter:
    """What :class:`JacobianVectorEnv` and the SB3 VecEnv share: built from
    :class:`BatchedParts`, with ``env_info``, ``render_mode``, ``jacobians``, ``threshold``
    and the :attr:`batch` property."""

    def _build(
        self, env: Any, num_envs: int, name: str | None, config_overrides: dict | None, **options
    ) -> None:
        o = AdapterOptions(**options)  # an unknown keyword: TypeError naming it
        parts = build_parts(env, num_envs, name, config_overrides, o)
        self._frames, self.env_info, self._batch = parts.frames, parts.env_info, parts.batch
        self.render_mode = o.render_mode
        self.jacobians = o.jacobians
        self.threshold = float(o.threshold)

    @property
    def batch(self) -> Batch:
        """The batch of envs this adapter steps (:class:`jacwrap.batch_protocol.Batch`)."""
        return self._batch


def close_batch(frames: LazyRenderer, batch: Batch) -> None:
    """Free the renderer's context and the batch's workers (if it has any)."""
    frames.close()
    batch.close()


def batch_frames(frames: LazyRenderer, batch: Batch) -> list:
    """One frame per env of the batch's current states (the adapter's render mode)."""
    return [frames.render(s) for s in current_states(batch)]


class JacobianVectorEnv(BatchedAdapter, VectorEnv):
    """``num_envs`` Playground envs as a Gymnasium ``VectorEnv`` (autoreset: ``SAME_STEP``).

    ``step`` returns batched arrays and an ``infos`` dict of arrays, each with a ``_key``
    boolean mask (all True but for ``final_obs``/``final_info``):

    - the keys of :class:`jacwrap.JacobianWrapper`'s ``info`` (the step schema,
      :mod:`jacwrap.schema`), each with a leading batch axis B: ``state``, ``next_state``
      (B, n); ``jac_state`` (B, n, n) and ``jac_action`` (B, n, m) (rows s', columns s or
      a); ``sparsity`` a dict of (B,) arrays ``state``/``action``/``combined`` (NaN where
      non-finite); ``jac_finite`` (B,); ``contacts``, ``contacts_start`` (B, p);
      ``n_contacts``, ``n_constraints`` (B,).
    - Where an episode ended (``terminated | truncated``), the returned observation is the
      first of the next episode; ``final_obs`` (object array) holds the last observation
      and ``final_info["episode_steps"]`` its length.

    ``reset(seed=s)`` seeds env i with ``s + i``, as Gymnasium's vector envs do, so env i
    reproduces a single :class:`jacwrap.JacobianWrapper` reset with seed ``s + i``.

    ``render_mode`` (``"rgb_array"`` or ``"depth_array"``, with ``width``, ``height``,
    ``camera`` as in :class:`jacwrap.JacobianWrapper`): :meth:`render` returns a tuple of
    the B envs' frames, as Gymnasium's vector envs do.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": list(RENDER_MODES)}

    def __init__(
        self,
        env: Any,
        num_envs: int,
        *,
        name: str | None = None,
        config_overrides: dict | None = None,
        **options: Any,
    ):
        """``options``: the fields of :class:`AdapterOptions` (``jacobians``, ``threshold``,
        ``workers``, ``render_mode``, ``width``, ``height``, ``camera``)."""
        self._build(env, num_envs, name, config_overrides, **options)
        self.num_envs = num_envs
        self.single_observation_space = observation_space(self._batch.obs_dim)
        self.single_action_space = action_space(self.env_info)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.metadata = {**self.metadata, "render_fps": render_fps(self.env_info)}

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options=None):
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        obs, s = self._batch.reset(seeds)
        return obs, {"state": s, "_state": np.ones(self.num_envs, bool)}

    def step(self, actions):
        b = self._batch.step(actions)
        infos: dict[str, Any] = schema.info_of_batch(b, self.jacobians)
        ended = b.terminated | b.truncated
        if ended.any():
            final = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(ended):
                final[i] = b.final_obs[i]
            infos["final_obs"] = final
            infos["_final_obs"] = ended
            infos["final_info"] = {
                "episode_steps": np.where(ended, self._batch.last_episode_length, 0),
                "_episode_steps": ended,
            }
            infos["_final_info"] = ended
        return b.obs, b.reward, b.terminated, b.truncated, infos

    def render(self) -> tuple | None:
        """The B envs' frames of their current states (None, with a warning, if no mode)."""
        if self.render_mode is None:
            from gymnasium import logger

            logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        return tuple(batch_frames(self._frames, self._batch))

    def close_extras(self, **kwargs):
        close_batch(self._frames, self._batch)


def make_adapter(adapter, name, num_envs, config_overrides, **kwargs):
    """Build the registered task ``name`` and wrap ``num_envs`` copies of it in ``adapter``."""
    check_config_overrides(name, config_overrides, VEC_KEYWORDS)
    env = load_playground(name, **config_overrides)
    return adapter(env, num_envs, name=name, config_overrides=config_overrides, **kwargs)


def make_vec(
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
    """Gymnasium ``VectorEnv`` of ``num_envs`` copies of a registered task.

    ``workers=2`` (or more) steps the batch in that many processes: on a multi-core CPU,
    how the cores get used (see :mod:`jacwrap.parallel`). ``render_mode``, ``width``,
    ``height``, ``camera`` and the config overrides are as in :func:`jacwrap.make`.
    """
    return make_adapter(
        JacobianVectorEnv,
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
