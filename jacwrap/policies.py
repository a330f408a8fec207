"""Policies that drive recordings: ``random``, ``zero`` or a Stable-Baselines3 policy file.

A policy acts on a batch: ``act(obs (B, obs_dim)) -> actions (B, m)``, and is reset with
the batch size and a seed so rollouts are reproducible. ``describe`` is stored in the
recording header.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from jacwrap.envs import EnvInfo
from jacwrap.errors import JacwrapError


class PolicyError(JacwrapError, ValueError):
    """A policy spec that cannot be loaded (missing file, wrong spaces)."""


class Policy(Protocol):
    description: str

    def reset(self, num_envs: int, seed: int | None) -> None: ...

    def act(self, obs: np.ndarray) -> np.ndarray: ...


class RandomPolicy:
    """Uniform random actions in the control range."""

    def __init__(self, info: EnvInfo):
        self.low = np.asarray(info.ctrl_low)
        self.high = np.asarray(info.ctrl_high)
        self.description = "random (uniform in the control range)"
        self._rng = np.random.default_rng()

    def reset(self, num_envs: int, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self._rng.uniform(self.low, self.high, size=(obs.shape[0], self.low.size))


class ZeroPolicy:
    """All-zero actions."""

    def __init__(self, info: EnvInfo):
        self.m = info.nu
        self.description = "zero"

    def reset(self, num_envs: int, seed: int | None) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.zeros((obs.shape[0], self.m))


class SB3Policy:
    """A saved Stable-Baselines3 model, rolled out stochastically (its sampling noise)."""

    def __init__(self, path: Path, info: EnvInfo):
        from stable_baselines3 import PPO

        try:
            self.model = PPO.load(str(path), device="cpu")
        except Exception as exc:  # SB3 raises many kinds; name the file
            raise PolicyError(f"cannot load SB3 policy {path}: {exc}") from exc
        shape = self.model.action_space.shape
        if shape != (info.nu,):
            raise PolicyError(
                f"policy {path} acts with shape {shape}, {info.name} expects ({info.nu},)"
            )
        self.low = np.asarray(info.ctrl_low)
        self.high = np.asarray(info.ctrl_high)
        self.description = f"sb3:{Path(path).name} (stochastic)"

    def reset(self, num_envs: int, seed: int | None) -> None:
        if seed is not None:
            import torch

            torch.manual_seed(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        action, _ = self.model.predict(obs.astype(np.float32), deterministic=False)
        return np.clip(action, self.low, self.high)


def load_policy(spec: str, info: EnvInfo) -> Policy:
    """``random``, ``zero`` or the path of an SB3 ``.zip`` policy file."""
    if spec == "random":
        return RandomPolicy(info)
    if spec == "zero":
        return ZeroPolicy(info)
    path = Path(spec)
    if not path.exists():
        raise PolicyError(
            f"policy must be 'random', 'zero' or an SB3 .zip file; {spec!r} not found"
        )
    return SB3Policy(path, info)
