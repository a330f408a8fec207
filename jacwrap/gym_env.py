"""Gymnasium adapter: one Playground environment with exact Jacobians in every ``info``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from jacwrap.batch import BatchStep, EnvBatch
from jacwrap.envs import EnvInfo, describe, load_playground
from jacwrap.errors import ActionError
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD, SPARSITY_KINDS


def observation_space(obs_dim: int) -> gym.spaces.Box:
    return gym.spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)


def action_space(info: EnvInfo) -> gym.spaces.Box:
    return gym.spaces.Box(
        np.asarray(info.ctrl_low, np.float32),
        np.asarray(info.ctrl_high, np.float32),
        dtype=np.float32,
    )


def step_info(b: BatchStep, i: int, jacobians: bool) -> dict[str, Any]:
    """The ``info`` dict of env ``i`` of a batch step (views, no copies of the Jacobians)."""
    info: dict[str, Any] = {
        "state": b.state[i],
        "next_state": b.next_state[i],
        "jac_finite": bool(b.finite[i]),
    }
    if jacobians:
        info["jac_state"] = b.jac_state[i]
        info["jac_action"] = b.jac_action[i]
        info["sparsity"] = {k: float(b.sparsity[i, j]) for j, k in enumerate(SPARSITY_KINDS)}
    return info


class JacobianWrapper(gym.Env):
    """Gymnasium env around a Playground env object, adding the transition Jacobians.

    Works for any Playground env whose state is (qpos, qvel) (``jacwrap.make`` builds the
    registered ones; pass your own env object here). The env must use ``impl="jax"``; the
    physics and Jacobians run in float64.

    Spaces: observations are float32 Boxes of the Playground observation; actions are a
    float32 Box on the actuator control range. Episodes truncate at the task's episode
    length (1000 for the DM Control Suite); ``terminated`` is set when the simulation
    produces NaN (a blow-up).

    ``info`` keys returned by :meth:`step` (n = nq + nv, m = nu):

    ========================  =================  ==========================================
    key                       shape, dtype       meaning
    ========================  =================  ==========================================
    ``state``                 (n,) float64       s = concat(qpos, qvel) before the step
    ``next_state``            (n,) float64       s' after the step
    ``jac_state``             (n, n) float64     J_s = ds'/ds; rows s', columns s
    ``jac_action``            (n, m) float64     J_a = ds'/da; rows s', columns a
    ``sparsity``              dict of float      ``state``, ``action``, ``combined``: share
                                                 of elements with |J| < threshold in J_s,
                                                 J_a and [J_s | J_a]; NaN when non-finite
    ``jac_finite``            bool               False when a Jacobian has a NaN/inf entry
                                                 (blow-up); such a step is never counted
    ========================  =================  ==========================================

    ``reset`` returns ``info = {"state": s}``. With ``jacobians=False`` the env is a plain
    Playground env (``state``, ``next_state`` and ``jac_finite`` only). Labels of the rows
    and columns: ``env.unwrapped.env_info.state_labels`` / ``.action_labels``.

    Args:
        env: a Playground ``MjxEnv`` built with ``impl="jax"``.
        name: name used in labels and recordings (default: the class name).
        jacobians: compute J_s and J_a at every step (default True).
        threshold: zero threshold for the sparsity (default 1e-12, SPEC.md).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        env: Any,
        *,
        name: str | None = None,
        jacobians: bool = True,
        threshold: float = GROUND_TRUTH_THRESHOLD,
    ):
        self.env_info = describe(env, name)
        self.jacobians = jacobians
        self.threshold = threshold
        self._batch = EnvBatch(
            env, self.env_info, 1, jacobians=jacobians, threshold=threshold, autoreset=False
        )
        self.observation_space = observation_space(self._batch.obs_dim)
        self.action_space = action_space(self.env_info)
        self._needs_reset = True

    @property
    def playground_env(self) -> Any:
        return self._batch.env

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


def make(
    name: str,
    *,
    jacobians: bool = True,
    threshold: float = GROUND_TRUTH_THRESHOLD,
    **config_overrides: Any,
) -> JacobianWrapper:
    """Build the Gymnasium env of a Playground DM Control task, with exact Jacobians.

    ``name`` is one of :func:`jacwrap.available_envs` (the eight tasks of the paper and the
    other DM Control tasks whose state is (qpos, qvel)); an unknown name raises
    :class:`jacwrap.UnknownEnvError` listing them. Extra keyword arguments override the
    Playground config (``impl`` is always ``"jax"``).
    """
    env = load_playground(name, **config_overrides)
    return JacobianWrapper(env, name=name, jacobians=jacobians, threshold=threshold)
