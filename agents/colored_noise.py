"""Colored-noise exploration for Stable-Baselines3 PPO (training only).

:class:`ColoredNoisePolicy` is SB3's ``ActorCriticPolicy`` whose Gaussian action
distribution samples ``mean + std * eps_t`` with ``eps_t`` from a
:class:`jacwrap.noise.ColoredNoiseProcess` (1/f^beta along time, one sequence per env and
action dimension) instead of white noise. Log-probabilities, entropy and the PPO loss are
those of the ordinary diagonal Gaussian: only where the samples come from changes, as in
Hollenstein et al. (AAAI 2024). A batch whose size is not the training ``num_envs`` (an
evaluation, a single ``predict``) falls back to white noise.
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy

from jacwrap.noise import ColoredNoiseProcess


class ColoredNoiseDiagGaussian(DiagGaussianDistribution):
    """Diagonal Gaussian whose ``sample`` uses colored noise for a batch of ``num_envs``."""

    def __init__(self, action_dim: int, process: ColoredNoiseProcess):
        super().__init__(action_dim)
        self.process = process

    def sample(self) -> torch.Tensor:
        mean = self.distribution.mean
        if mean.shape[0] != self.process.shape[0]:
            return super().sample()
        eps = torch.as_tensor(self.process.sample(), dtype=mean.dtype, device=mean.device)
        return mean + self.distribution.stddev * eps


class ColoredNoisePolicy(ActorCriticPolicy):
    """``ActorCriticPolicy`` with :class:`ColoredNoiseDiagGaussian` sampling.

    Extra keyword arguments: ``noise_beta`` (exponent, 0 = white), ``noise_num_envs`` (the
    rollout batch), ``noise_seq_len`` (the episode length) and ``noise_seed``.
    """

    def __init__(
        self,
        *args,
        noise_beta: float = 0.0,
        noise_num_envs: int = 1,
        noise_seq_len: int = 1000,
        noise_seed: int | None = None,
        **kwargs,
    ):
        object.__setattr__(
            self, "_noise_args", (noise_beta, noise_num_envs, noise_seq_len, noise_seed)
        )
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule) -> None:
        beta, num_envs, seq_len, seed = self._noise_args
        m = int(np.prod(self.action_space.shape))
        process = ColoredNoiseProcess(beta, num_envs, m, seq_len, seed=seed)
        self.action_dist = ColoredNoiseDiagGaussian(m, process)
        super()._build(lr_schedule)


class NoiseEpisodeCallback(BaseCallback):
    """Gives envs whose episode just ended a fresh noise sequence (unaligned episode ends)."""

    def _on_step(self) -> bool:
        dist = self.model.policy.action_dist
        if isinstance(dist, ColoredNoiseDiagGaussian):
            dones = np.asarray(self.locals["dones"], bool)
            if dones.all():
                dist.process.reset()
            elif dones.any():
                dist.process.reset_envs(dones)
        return True
