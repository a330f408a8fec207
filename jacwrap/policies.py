"""Policies that drive recordings: ``random``, ``zero`` or a Stable-Baselines3 policy file.

A policy acts on a batch: ``act(obs (B, obs_dim)) -> actions (B, m)``, and is reset with
the batch size and a seed so rollouts are reproducible. ``describe`` is stored in the
recording header.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np

from jacwrap.envs import EnvInfo
from jacwrap.errors import JacwrapError
from jacwrap.noise import ColoredNoiseProcess


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


NOISE_BETA_ATTR = "colored_noise_beta"
"""Attribute of a saved SB3 model holding its colored-noise exponent (absent: white, 0)."""


class SB3Policy:
    """A Stable-Baselines3 Gaussian policy rolled out stochastically with its colored noise.

    ``act`` returns ``clip(mean(obs) + std * eps_t)`` where ``eps_t`` is one time step of a
    1/f^beta sequence per env and action dimension (:class:`jacwrap.noise.ColoredNoiseProcess`,
    a fresh sequence every ``episode_length`` steps), ``beta`` read from the saved model
    (``colored_noise_beta``; 0, white noise, when absent). ``reset(num_envs, seed)`` draws
    the noise for a batch of ``num_envs`` reproducibly from ``seed``.
    """

    def __init__(
        self,
        model,
        info: EnvInfo,
        *,
        beta: float | None = None,
        name: str = "model",
        deterministic: bool = False,
    ):
        shape = model.action_space.shape
        if shape != (info.nu,):
            raise PolicyError(
                f"policy {name} acts with shape {shape}, {info.name} expects ({info.nu},)"
            )
        self.model = model
        self.beta = float(getattr(model, NOISE_BETA_ATTR, 0.0) if beta is None else beta)
        self.deterministic = deterministic
        self.seq_len = int(info.episode_length)
        self.m = info.nu
        self.low = np.asarray(info.ctrl_low)
        self.high = np.asarray(info.ctrl_high)
        mode = "deterministic" if deterministic else f"stochastic, colored noise beta={self.beta:g}"
        self.description = f"sb3:{name} ({mode})"
        self._process: ColoredNoiseProcess | None = None
        self._seed: int | None = None

    @classmethod
    def load(cls, path: Path, info: EnvInfo) -> SB3Policy:
        """Load a saved PPO ``.zip`` (CPU)."""
        from jacwrap._extras import require

        PPO = require("sb3", "stable_baselines3").PPO

        try:
            model = PPO.load(str(path), device="cpu")
        except Exception as exc:  # SB3 raises many kinds; name the file
            raise PolicyError(f"cannot load SB3 policy {path}: {exc}") from exc
        return cls(model, info, name=Path(path).name)

    def reset(self, num_envs: int, seed: int | None) -> None:
        self._seed = seed
        self._process = ColoredNoiseProcess(self.beta, num_envs, self.m, self.seq_len, seed=seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        import torch

        obs = np.asarray(obs, np.float32)
        if self._process is None or self._process.shape[0] != obs.shape[0]:
            self.reset(obs.shape[0], self._seed)
        with torch.no_grad():
            dist = self.model.policy.get_distribution(torch.as_tensor(obs)).distribution
            mean = dist.mean.numpy().astype(np.float64)
            std = dist.stddev.numpy().astype(np.float64)
        action = mean if self.deterministic else mean + std * self._process.sample()
        return np.clip(action, self.low, self.high)


def policy_dir() -> Path:
    """The shipped expert policies (``agents/policies/<Env>.zip`` in the repository), as
    package data of ``jacwrap.agents`` (where an install of jacwrap puts them)."""
    return Path(str(resources.files("jacwrap.agents") / "policies"))


def shipped_policy(env_name: str) -> str | None:
    """The path of ``env_name``'s shipped policy, or None if there is none."""
    path = policy_dir() / f"{env_name}.zip"
    return str(path) if path.is_file() else None


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
    return SB3Policy.load(path, info)
