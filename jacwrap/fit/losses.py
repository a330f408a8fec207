"""The five loss modes of docs/SCIENCE.md (Q4): next-state MSE plus at most one Jacobian term.

Pure functions of JAX arrays. Every quantity lives in normalised space. Each sample has a
weight (1 for real samples, 0 for the padding that keeps batch shapes fixed), so every
"mean" here is a weighted mean over samples of the per-sample mean over elements.

| mode                            | extra term on J_hat (model) vs J (ground truth)          |
|---------------------------------|----------------------------------------------------------|
| ``state``                       | none                                                      |
| ``state-jacobian``              | mean (J_hat - J)^2                                        |
| ``state-jacobian-l1``           | mean abs(J_hat - J)                                       |
| ``state-jacobian-l1-regularizer``| mean abs(J_hat)  (an L1 penalty on the prediction only)  |
| ``state-jacobian-l1-sparse-only``| mean of abs(J_hat - J) over the elements where J is zero |

For ``state-jacobian-l1-sparse-only`` the mean runs over the zero elements of the batch
(their count, not all elements), so the term does not shrink when J is mostly dense.
"""

from __future__ import annotations

import jax.numpy as jnp

LOSS_MODES = (
    "state",
    "state-jacobian",
    "state-jacobian-l1",
    "state-jacobian-l1-regularizer",
    "state-jacobian-l1-sparse-only",
)


def needs_jacobian(mode: str) -> bool:
    """True for every mode with a term on the model's Jacobian."""
    check_mode(mode)
    return mode != "state"


def check_mode(mode: str) -> None:
    """Raise ValueError for a name that is not one of :data:`LOSS_MODES`."""
    if mode not in LOSS_MODES:
        raise ValueError(f"unknown loss mode {mode!r}; valid: {', '.join(LOSS_MODES)}")


def weighted_mean(per_sample, weight):
    """sum(w * x) / sum(w) over the sample axis (0 when every weight is 0)."""
    return jnp.sum(weight * per_sample) / jnp.maximum(jnp.sum(weight), 1e-12)


def state_mse(pred, target, weight):
    """Weighted mean over samples of the mean squared error over the state variables."""
    return weighted_mean(jnp.mean((pred - target) ** 2, axis=-1), weight)


def jacobian_term(mode: str, jac_hat, jac, zero, weight):
    """The mode's extra term (0.0 for ``state``).

    ``jac_hat`` and ``jac`` are (B, n, n + m) in normalised space, ``zero`` the (B, n, n + m)
    boolean mask of the ground truth's zero elements, ``weight`` (B,).
    """
    check_mode(mode)
    if mode == "state":
        return jnp.zeros((), dtype=weight.dtype)
    if mode == "state-jacobian":
        return weighted_mean(jnp.mean((jac_hat - jac) ** 2, axis=(-2, -1)), weight)
    if mode == "state-jacobian-l1":
        return weighted_mean(jnp.mean(jnp.abs(jac_hat - jac), axis=(-2, -1)), weight)
    if mode == "state-jacobian-l1-regularizer":
        return weighted_mean(jnp.mean(jnp.abs(jac_hat), axis=(-2, -1)), weight)
    # state-jacobian-l1-sparse-only
    w = weight[:, None, None] * zero.astype(jac_hat.dtype)
    return jnp.sum(w * jnp.abs(jac_hat - jac)) / jnp.maximum(jnp.sum(w), 1.0)
