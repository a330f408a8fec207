"""The interface every batch of envs has: what the adapters and the recorders rely on.

Two classes satisfy it: :class:`jacwrap.batch.EnvBatch` (one process, one compiled step)
and :class:`jacwrap.parallel.ProcessEnvBatch` (the batch split over worker processes). The
Gymnasium, vector and SB3 adapters step a :class:`Batch`, expose it as their ``batch``
property, and the recorders read each step's :class:`jacwrap.batch.BatchStep` from it.
It is ``runtime_checkable``: ``isinstance(env.batch, Batch)`` checks the members' presence.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from jacwrap.batch import BatchStep
from jacwrap.envs import EnvInfo


@runtime_checkable
class Batch(Protocol):
    """``num_envs`` envs of one task stepped together, auto-reset in the same step.

    Attributes: ``info`` (the task's :class:`~jacwrap.envs.EnvInfo`), ``num_envs``,
    ``jacobians`` (whether steps carry J_s, J_a and the sparsity), ``threshold`` (the zero
    threshold of the sparsity), ``obs_dim``, ``last_episode_length`` (B,): the length
    of each env's last finished episode, ``last_obs`` (B, obs_dim): the observations the
    envs act on next (after ``reset`` or ``step``; None before), and ``last_step``: the
    :class:`~jacwrap.batch.BatchStep` of the last ``step`` (None before one, and after a
    ``reset``). The recorders read these two.
    """

    info: EnvInfo
    num_envs: int
    jacobians: bool
    threshold: float
    obs_dim: int
    last_episode_length: np.ndarray
    last_obs: np.ndarray | None
    last_step: BatchStep | None

    @property
    def state(self) -> np.ndarray:
        """Current state vectors s, (B, n) float64; ``RuntimeError`` before ``reset``."""
        ...

    @property
    def episode_steps(self) -> np.ndarray:
        """Steps taken so far in each env's current episode, (B,)."""
        ...

    def reset(self, seeds: list[int | None]) -> tuple[np.ndarray, np.ndarray]:
        """Reset every env (``seeds[i]`` seeds env i); (obs (B, obs_dim), states (B, n))."""
        ...

    def step(self, actions: Any) -> BatchStep:
        """Step every env with ``actions`` (B, m); finished episodes auto-reset."""
        ...

    def check_actions(self, actions: Any) -> np.ndarray:
        """Validate a (B, m) batch of actions; returns float64 NumPy."""
        ...

    def close(self) -> None:
        """Free what the batch holds (worker processes); the batch is unusable after."""
        ...
