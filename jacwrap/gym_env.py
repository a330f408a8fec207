"""Gymnasium adapter: one Playground environment with exact Jacobians in every ``info``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from jacwrap import schema
from jacwrap.batch import BatchStep, EnvBatch
from jacwrap.envs import EnvInfo, describe, load_playground
from jacwrap.errors import ActionError, UnknownEnvError
from jacwrap.render.frames import DEFAULT_HEIGHT, DEFAULT_WIDTH, RENDER_MODES, LazyRenderer
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD

#: Keywords of :func:`make` itself; any other keyword must be a Playground config key.
MAKE_KEYWORDS: tuple[str, ...] = (
    "jacobians",
    "threshold",
    "render_mode",
    "width",
    "height",
    "camera",
)


def observation_space(obs_dim: int) -> gym.spaces.Box:
    return gym.spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)


def action_space(info: EnvInfo) -> gym.spaces.Box:
    return gym.spaces.Box(
        np.asarray(info.ctrl_low, np.float32),
        np.asarray(info.ctrl_high, np.float32),
        dtype=np.float32,
    )


def check_config_overrides(
    name: str, overrides: dict[str, Any], keywords: tuple[str, ...] = MAKE_KEYWORDS
) -> None:
    """Raise a ``TypeError`` listing the accepted keywords if an override is not a config key.

    Without this, a keyword that neither jacwrap nor the task's Playground config knows
    would surface as a ``KeyError`` from inside the locked ``ConfigDict``.
    """
    from jacwrap.envs import available_envs

    if not overrides:
        return
    if name not in available_envs():
        raise UnknownEnvError(name, available_envs())
    from jacwrap.envs import playground_registry

    config_keys = sorted(playground_registry().get_default_config(name).keys())
    unknown = sorted(set(overrides) - set(config_keys))
    if unknown:
        raise TypeError(
            f"{name}: unexpected keyword argument(s) {', '.join(map(repr, unknown))}; accepted: "
            f"jacwrap's {', '.join(keywords)} and the Playground config's {', '.join(config_keys)}"
        )


def render_fps(info: EnvInfo) -> int:
    """Frames per second of real time: one frame per control step (1 / ctrl_dt)."""
    return max(1, round(1.0 / info.ctrl_dt))


def current_states(batch: Any) -> np.ndarray:
    """The batch's current state vectors (B, n), for rendering; ``ResetNeeded`` before reset."""
    try:
        return batch.state
    except RuntimeError:
        raise gym.error.ResetNeeded("call reset() before render()") from None


def step_info(b: BatchStep, i: int, jacobians: bool) -> dict[str, Any]:
    """The ``info`` dict of env ``i`` of a batch step (views, no copies of the Jacobians)."""
    return schema.info_of_env(b, i, jacobians)


class JacobianWrapper(gym.Env):
    """Gymnasium env around a Playground env object, adding the transition Jacobians.

    Works for any Playground env whose state is (qpos, qvel) (``jacwrap.make`` builds the
    registered ones; pass your own env object here). The env must use ``impl="jax"``; the
    physics and Jacobians run in float64.

    Spaces: observations are float32 Boxes of the Playground observation; actions are a
    float32 Box on the actuator control range. Episodes truncate at the task's episode
    length (1000 for the DM Control Suite); ``terminated`` is set when the simulation
    produces NaN (a blow-up).

    ``info`` keys returned by :meth:`step` (n = nq + nv, m = nu, p = the number of contact
    pairs; the step schema, :mod:`jacwrap.schema`; rows of J_s and J_a are s', columns s or
    a; ``sparsity`` has ``state``, ``action``, ``combined``: the share of elements with
    |J| < threshold in J_s, J_a and [J_s | J_a]; a step with ``jac_finite`` False, a
    blow-up, is never counted):

    {info_table}

    ``reset`` returns ``info = {{"state": s}}``. With ``jacobians=False`` the env is a plain
    Playground env (no ``jac_state``, ``jac_action`` or ``sparsity``). Labels of the rows
    and columns: ``env.unwrapped.env_info.state_labels`` / ``.action_labels``.

    Rendering: ``render_mode="rgb_array"`` makes :meth:`render` return MuJoCo's (height,
    width, 3) uint8 image of the current state s (``"depth_array"``: (height, width) float32
    metres), from the task's camera unless ``camera`` names another; ``metadata
    ["render_fps"]`` is one frame per control step. The OpenGL context is made on the first
    :meth:`render` (see :mod:`jacwrap.render`; a machine without EGL or OSMesa raises
    :class:`jacwrap.render.RendererUnavailableError` naming the packages to install).

    Args:
        env: a Playground ``MjxEnv`` built with ``impl="jax"``.
        name: name used in labels and recordings (default: the class name).
        jacobians: compute J_s and J_a at every step (default True).
        threshold: zero threshold for the sparsity (default 1e-12, docs/SCIENCE.md "Sparsity").
        render_mode: None, ``"rgb_array"`` or ``"depth_array"``.
        width, height: frame size in pixels (default 320x240).
        camera: camera name or id, ``"free"``, or None for the task's first camera.
    """

    metadata = {"render_modes": list(RENDER_MODES)}
    __doc__ = __doc__.format(info_table=schema.info_table().replace("\n", "\n    "))

    def __init__(
        self,
        env: Any,
        *,
        name: str | None = None,
        jacobians: bool = True,
        threshold: float = GROUND_TRUTH_THRESHOLD,
        render_mode: str | None = None,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        camera: int | str | None = None,
    ):
        self.env_info = describe(env, name)
        self.jacobians = jacobians
        self.threshold = threshold
        self._frames = LazyRenderer(
            env.mj_model, render_mode, width=width, height=height, camera=camera
        )
        self.render_mode = render_mode
        self.metadata = {**type(self).metadata, "render_fps": render_fps(self.env_info)}
        self._batch = EnvBatch(
            env, self.env_info, 1, jacobians=jacobians, threshold=threshold, autoreset=False
        )
        self.observation_space = observation_space(self._batch.obs_dim)
        self.action_space = action_space(self.env_info)
        self._needs_reset = True

    @property
    def playground_env(self) -> Any:
        return self._batch.env

    @property
    def batch(self) -> EnvBatch:
        """The batch of one env this adapter steps (:class:`jacwrap.batch_protocol.Batch`)."""
        return self._batch

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(0, 2**31 - 1))
        obs, s = self._batch.reset([seed])
        self._needs_reset = False
        return obs[0], {"state": s[0]}

    def step(self, action: Any):
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (and after an episode ends)")
        arr = np.asarray(action)
        if arr.shape != (self.env_info.nu,):
            raise ActionError(
                f"{self.env_info.name}: expected an action of shape ({self.env_info.nu},), "
                f"got {arr.shape}"
            )
        b = self._batch.step(arr[None])
        info = step_info(b, 0, self.jacobians)
        terminated, truncated = bool(b.terminated[0]), bool(b.truncated[0])
        self._needs_reset = terminated or truncated
        return b.final_obs[0], float(b.reward[0]), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """The current state's frame in ``render_mode`` (None, with a warning, if no mode)."""
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; build the env with "
                "render_mode='rgb_array' (jacwrap.make or gymnasium.make)"
            )
            return None
        return self._frames.render(current_states(self._batch)[0])

    def close(self) -> None:
        """Free the renderer's OpenGL context, if one was made (the env stays usable)."""
        self._frames.close()


def make(
    name: str,
    *,
    jacobians: bool = True,
    threshold: float = GROUND_TRUTH_THRESHOLD,
    render_mode: str | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    camera: int | str | None = None,
    **config_overrides: Any,
) -> JacobianWrapper:
    """Build the Gymnasium env of a Playground DM Control task, with exact Jacobians.

    ``name`` is one of :func:`jacwrap.available_envs` (the eight tasks of the paper and the
    other DM Control tasks whose state is (qpos, qvel)); an unknown name raises
    :class:`jacwrap.UnknownEnvError` listing them. ``render_mode``, ``width``, ``height``
    and ``camera`` are :class:`JacobianWrapper`'s. Extra keyword arguments override the
    Playground config (e.g. ``episode_length=200``; ``impl`` is always ``"jax"``); one that
    the config does not have raises a ``TypeError`` listing the accepted keywords.
    """
    check_config_overrides(name, config_overrides)
    env = load_playground(name, **config_overrides)
    return JacobianWrapper(
        env,
        name=name,
        jacobians=jacobians,
        threshold=threshold,
        render_mode=render_mode,
        width=width,
        height=height,
        camera=camera,
    )


# gymnasium.make reads the entry point's render modes: "rgb_array_list" then gets Gymnasium's
# RenderCollection wrapper and "human" its HumanRendering wrapper, as for its own envs.
make.metadata = JacobianWrapper.metadata
