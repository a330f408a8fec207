"""Colored (1/f^beta) Gaussian noise for exploration, as in Hollenstein et al. (AAAI 2024).

A Gaussian policy normally samples ``a_t = mean_t + std_t * eps_t`` with white ``eps_t``.
Colored-noise exploration draws ``eps_t`` instead from a unit-variance Gaussian sequence
whose power spectrum falls as ``1/f^beta`` along time, independently per environment and
action dimension: ``beta = 0`` is white noise, ``1`` pink, ``2`` red (Brownian-like).

:func:`colored_noise` is the pure sampler (wrapping the ``colorednoise`` package, the
Timmer-Koenig algorithm). :class:`ColoredNoiseProcess` hands out one time step of a
``(num_envs, action_dim)`` sequence per call and draws a fresh sequence of ``seq_len``
steps when one is used up, as the authors' ``pink-noise-rl`` package does (``seq_len`` =
the episode length, so with episodes that all start together each one gets its own sequence).
"""

from __future__ import annotations

import numpy as np

from jacwrap.errors import JacwrapError


class NoiseError(JacwrapError, ValueError):
    """Invalid colored-noise parameters (negative exponent, empty shape)."""


def colored_noise(
    beta: float, shape: tuple[int, ...], length: int, rng: np.random.Generator
) -> np.ndarray:
    """Unit-variance Gaussian noise of shape ``(*shape, length)``, spectrum ``1/f^beta`` in time.

    Each of the ``prod(shape)`` sequences along the last axis is independent and has unit
    variance along time (the package's normalisation; across sequences at one step the
    variance is somewhat above 1 for large beta, e.g. about 1.3 for beta = 2, length 1000).
    """
    if beta < 0 or not np.isfinite(beta):
        raise NoiseError(f"colored-noise exponent beta must be finite and >= 0, got {beta}")
    if length < 1:
        raise NoiseError(f"colored-noise sequence length must be >= 1, got {length}")
    if beta == 0:
        return rng.standard_normal((*shape, length))
    if length == 1:  # one sample has no spectrum; colorednoise needs at least two
        return rng.standard_normal((*shape, 1))
    from jacwrap._extras import require

    colorednoise = require("sb3", "colorednoise")
    return colorednoise.powerlaw_psd_gaussian(beta, (*shape, length), random_state=rng)


class ColoredNoiseProcess:
    """One ``(num_envs, action_dim)`` noise sample per :meth:`sample` call, colored along calls."""

    def __init__(
        self,
        beta: float,
        num_envs: int,
        action_dim: int,
        seq_len: int,
        seed: int | None = None,
    ):
        if num_envs < 1 or action_dim < 1:
            raise NoiseError(f"noise shape must be positive, got ({num_envs}, {action_dim})")
        self.beta = float(beta)
        self.shape = (num_envs, action_dim)
        self.seq_len = int(seq_len)
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Draw a fresh sequence and start at its first step."""
        self._buffer = colored_noise(self.beta, self.shape, self.seq_len, self.rng)
        self._t = 0

    def sample(self) -> np.ndarray:
        """The next time step, shape ``(num_envs, action_dim)``."""
        if self._t >= self.seq_len:
            self.reset()
        eps = self._buffer[..., self._t]
        self._t += 1
        return eps

    def reset_envs(self, mask: np.ndarray) -> None:
        """Give the environments where ``mask`` is True a fresh sequence from the current step.

        Used where episodes end at different times: the new episode's noise does not carry
        the old one's slow drift.
        """
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        fresh = colored_noise(self.beta, (idx.size, self.shape[1]), self.seq_len, self.rng)
        remaining = self.seq_len - self._t
        self._buffer[idx, :, self._t :] = fresh[..., :remaining]
