"""The Q4 metrics of a dynamics model against the ground truth (docs/SCIENCE.md, Q4), as pure functions.

Both ``jacwrap fit`` (inside its jitted evaluation, on JAX arrays) and :func:`jacwrap.score`
(on NumPy arrays) reduce batches with :func:`metric_sums` and turn the summed values into
numbers with :func:`finish_metrics`, so that a fitted MLP and any other model are measured
by the same code. All arrays are in one space (normalised, for the paper's numbers):

* ``pred``, ``target`` (B, n): the model's next state and the recorded s';
* ``jac_hat``, ``jac`` (B, n, n + m): the model's [J_s | J_a] and the recorded one;
* ``zero`` (B, n, n + m) bool: the recorded zero mask (|J| < the recording's threshold);
* ``weight`` (B,): 1 for a sample, 0 for padding.

Metrics (each a mean over samples, weighted):

| key | meaning |
|---|---|
| ``next_state_mse`` | mean over variables of (pred - s')^2 |
| ``jacobian_mse``, ``jacobian_mae`` | mean over elements of (J_hat - J)^2, abs(J_hat - J) |
| ``jacobian_mae_on_zeros`` | mean abs(J_hat) over the elements the recording has zero (there the truth is zero by definition, its sub-threshold residue is ignored) |
| ``jacobian_mae_on_nonzeros`` | mean abs(J_hat - J) over the other elements |
| ``zeros_recovered`` | share of the recorded zero elements where J_hat is zero too (at ``threshold``) |
| ``sparsity`` | mean sparsity of J_hat at ``threshold`` (1e-6 for learned models): state, action, combined |

The two ``on_*`` means and ``zeros_recovered`` run over elements (not samples); they are
None when there are no such elements.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jacwrap.sparsity import SPARSITY_KINDS, sparsity_triplet, zero_mask


def metric_sums(pred, target, jac_hat, jac, zero, weight, n: int, threshold: float) -> dict:
    """Weighted sums of one batch (NumPy or JAX arrays, jit-compatible); add them up over
    batches and pass the totals to :func:`finish_metrics`."""
    xp = np if isinstance(jac_hat, np.ndarray | np.generic) else _jnp()
    sp = sparsity_triplet(jac_hat[..., :n], jac_hat[..., n:], threshold)
    zw = weight[:, None, None] * zero
    nzw = weight[:, None, None] * (1 - zero)
    abs_err = xp.abs(jac_hat - jac)
    return {
        "mse": xp.sum(weight * xp.mean((pred - target) ** 2, -1)),
        "jac_mse": xp.sum(weight * xp.mean((jac_hat - jac) ** 2, (-2, -1))),
        "jac_mae": xp.sum(weight * xp.mean(abs_err, (-2, -1))),
        "zero_mae": xp.sum(zw * xp.abs(jac_hat)),
        "zero_count": xp.sum(zw),
        "nonzero_mae": xp.sum(nzw * abs_err),
        "nonzero_count": xp.sum(nzw),
        "zeros_recovered": xp.sum(zw * zero_mask(jac_hat, threshold)),
        "sparsity": xp.sum(weight[:, None] * sp, 0),
    }


def _jnp():
    import jax.numpy as jnp

    return jnp


class MetricSums:
    """Running totals of :func:`metric_sums` over batches (host NumPy values)."""

    def __init__(self) -> None:
        self.acc: dict[str, Any] = {}
        self.count = 0.0

    def add(self, sums: dict, count: float) -> None:
        """Add one batch's sums; ``count`` is its total weight (number of real samples)."""
        self.count += float(count)
        for k, v in sums.items():
            self.acc[k] = self.acc.get(k, 0.0) + np.asarray(v)

    def finish(self) -> dict[str, Any]:
        return finish_metrics(self.acc, self.count)


def _ratio(num, den) -> float | None:
    return float(num / den) if den > 0 else None


def finish_metrics(acc: dict, count: float) -> dict[str, Any]:
    """The metrics (module table) from summed :func:`metric_sums` over ``count`` samples."""
    sp = acc["sparsity"] / count
    return {
        "next_state_mse": float(acc["mse"] / count),
        "jacobian_mse": float(acc["jac_mse"] / count),
        "jacobian_mae": float(acc["jac_mae"] / count),
        "jacobian_mae_on_zeros": _ratio(acc["zero_mae"], acc["zero_count"]),
        "jacobian_mae_on_nonzeros": _ratio(acc["nonzero_mae"], acc["nonzero_count"]),
        "zeros_recovered": _ratio(acc["zeros_recovered"], acc["zero_count"]),
        "sparsity": {k: float(v) for k, v in zip(SPARSITY_KINDS, sp, strict=True)},
    }
