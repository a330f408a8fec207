"""z-score statistics of recordings, streamed chunk by chunk (docs/SCIENCE.md, Q4).

The statistics are those of :class:`jacwrap.fit.normalize.Normalization` (inputs (s, a),
outputs s', deltas s' - s; population std, a constant variable gets std 1), accumulated
with Chan's parallel update so that a file never has to be in memory at once. Only finite
steps (``Steps.finite``) count, as in ``jacwrap fit``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from jacwrap.fit.normalize import Normalization, ZScore, normalize_jacobian

#: The fields the z-score applies to (docs/SCIENCE.md, Q4: states, actions, next states, Jacobians).
NORMALIZED_FIELDS = ("state", "action", "next_state", "jac_state", "jac_action")


class RunningMoments:
    """Count, mean and sum of squared deviations of a stream of (k, dim) arrays."""

    def __init__(self, dim: int):
        self.count = 0
        self.mean = np.zeros(dim)
        self.m2 = np.zeros(dim)

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        k = x.shape[0]
        if k == 0:
            return
        mean = x.mean(axis=0)
        m2 = ((x - mean) ** 2).sum(axis=0)
        total = self.count + k
        delta = mean - self.mean
        self.mean = self.mean + delta * (k / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * k / total)
        self.count = total

    def zscore(self) -> ZScore:
        """The variables' :class:`ZScore` (population std, as ``np.std``)."""
        std = np.sqrt(self.m2 / self.count) if self.count else np.ones_like(self.m2)
        return ZScore.from_mean_std(self.mean, std)


class NormalizationStats:
    """Feed ``Steps``-like chunks (``state``, ``action``, ``next_state``, ``finite``)."""

    def __init__(self, n: int, m: int):
        self.inputs = RunningMoments(n + m)
        self.outputs = RunningMoments(n)
        self.deltas = RunningMoments(n)

    def update(self, steps: Any) -> None:
        ok = np.asarray(steps.finite, dtype=bool)
        s, a, sp = steps.state[ok], steps.action[ok], steps.next_state[ok]
        self.inputs.update(np.concatenate([s, a], axis=-1))
        self.outputs.update(sp)
        self.deltas.update(sp - s)

    def result(self) -> Normalization:
        return Normalization(self.inputs.zscore(), self.outputs.zscore(), self.deltas.zscore())


def normalization_of(chunks: Iterable[Any], n: int, m: int) -> Normalization:
    """The :class:`Normalization` of a stream of chunks (e.g. ``rec.iter_chunks()``)."""
    stats = NormalizationStats(n, m)
    for chunk in chunks:
        stats.update(chunk)
    return stats.result()


def normalize_field(name: str, values: np.ndarray, norm: Normalization, n: int) -> np.ndarray:
    """``values`` of the step field ``name`` in normalised space (other fields unchanged):
    s and a with the input statistics, s' with the output statistics, and
    J_n = diag(1/sigma_out) J diag(sigma_in) for J_s (columns s) and J_a (columns a)."""
    inputs, outputs = norm.inputs, norm.outputs
    if name == "state":
        return (values - inputs.mean[:n]) / inputs.std[:n]
    if name == "action":
        return (values - inputs.mean[n:]) / inputs.std[n:]
    if name == "next_state":
        return outputs.apply(values)
    if name == "jac_state":
        return normalize_jacobian(np.asarray(values, np.float64), inputs.std[:n], outputs.std)
    if name == "jac_action":
        return normalize_jacobian(np.asarray(values, np.float64), inputs.std[n:], outputs.std)
    return values
