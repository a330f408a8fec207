"""z-score statistics and the Jacobian of the normalised map (pure functions of arrays).

Every variable is normalised as x_n = (x - mu) / sigma (docs/SCIENCE.md, Q4). For a map y = f(x)
the normalised map y_n = f_n(x_n) has the Jacobian

    J_n = diag(1 / sigma_out) J diag(sigma_in),   i.e.  J_n[i, j] = J[i, j] sigma_in[j] / sigma_out[i].

The ground-truth Jacobians are brought into normalised space with this formula (not by
z-scoring their entries), so that J_n is exactly the derivative of the normalised map the
model learns, and a zero of J is a zero of J_n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A standard deviation below this (a constant variable) is replaced by 1.
MIN_STD = 1e-8


@dataclass(frozen=True)
class ZScore:
    """Mean and standard deviation of each variable (last axis)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, min_std: float = MIN_STD) -> ZScore:
        """Statistics over all leading axes; a (near-)constant variable gets std 1."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
        return cls.from_mean_std(x.mean(axis=0), x.std(axis=0), min_std)

    @classmethod
    def from_mean_std(cls, mean, std, min_std: float = MIN_STD) -> ZScore:
        """Statistics computed elsewhere (e.g. streamed); a (near-)constant variable gets std 1."""
        std = np.asarray(std, dtype=np.float64)
        return cls(mean=np.asarray(mean, dtype=np.float64), std=np.where(std < min_std, 1.0, std))

    def apply(self, x):
        """x_n = (x - mean) / std (NumPy or JAX arrays)."""
        return (x - self.mean) / self.std

    def invert(self, x_n):
        """x = x_n * std + mean."""
        return x_n * self.std + self.mean


def normalize_jacobian(jac, sigma_in, sigma_out):
    """J_n = diag(1/sigma_out) J diag(sigma_in) over the last two axes of ``jac``."""
    return jac * sigma_in[..., None, :] / sigma_out[..., :, None]


def denormalize_jacobian(jac_n, sigma_in, sigma_out):
    """J = diag(sigma_out) J_n diag(1/sigma_in): the inverse of :func:`normalize_jacobian`."""
    return jac_n * sigma_out[..., :, None] / sigma_in[..., None, :]


@dataclass(frozen=True)
class Normalization:
    """Statistics of a fit: inputs x = (s, a), next states s', and deltas s' - s."""

    inputs: ZScore  # n + m
    outputs: ZScore  # n
    deltas: ZScore  # n

    @classmethod
    def fit(cls, state: np.ndarray, action: np.ndarray, next_state: np.ndarray) -> Normalization:
        """Statistics of the training data (arrays with a leading sample axis)."""
        x = np.concatenate([state, action], axis=-1)
        return cls(
            inputs=ZScore.fit(x),
            outputs=ZScore.fit(next_state),
            deltas=ZScore.fit(np.asarray(next_state) - np.asarray(state)),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat dict of float64 arrays (for saving)."""
        return {
            "in_mean": self.inputs.mean,
            "in_std": self.inputs.std,
            "out_mean": self.outputs.mean,
            "out_std": self.outputs.std,
            "delta_mean": self.deltas.mean,
            "delta_std": self.deltas.std,
        }

    @classmethod
    def from_arrays(cls, d: dict[str, np.ndarray]) -> Normalization:
        """Inverse of :meth:`to_arrays`."""
        f = lambda k: np.asarray(d[k], dtype=np.float64)  # noqa: E731
        return cls(
            inputs=ZScore(f("in_mean"), f("in_std")),
            outputs=ZScore(f("out_mean"), f("out_std")),
            deltas=ZScore(f("delta_mean"), f("delta_std")),
        )
