"""Zero masks and sparsity of Jacobians: pure functions of arrays (NumPy or JAX).

An element is *zero* when |J_ij| < threshold (1e-12 for ground truth, 1e-6 for learned
models, docs/SCIENCE.md "Sparsity"). The sparsity of a Jacobian is (#zero elements) / (#elements); the
*combined* sparsity is that of [J_s | J_a]. A Jacobian with a non-finite entry has no
sparsity: its value is NaN so that it is never silently counted.
"""

from __future__ import annotations

GROUND_TRUTH_THRESHOLD = 1e-12
LEARNED_THRESHOLD = 1e-6

#: Order of the three sparsity values wherever they are stored side by side.
SPARSITY_KINDS = ("state", "action", "combined")


def zero_mask(jac, threshold: float = GROUND_TRUTH_THRESHOLD):
    """Boolean mask of the zero elements (|J| < threshold); NaN counts as non-zero."""
    return abs(jac) < threshold


def sparsity_triplet(jac_state, jac_action, threshold: float = GROUND_TRUTH_THRESHOLD):
    """Sparsity of J_s, J_a and [J_s | J_a] over the last two axes, stacked on a new last axis.

    Works for a single pair ``(n, n), (n, m)`` or batches ``(..., n, n), (..., n, m)``.
    Where either Jacobian has a non-finite entry, all three values are NaN.
    """
    xp = _namespace(jac_state)
    zs = zero_mask(jac_state, threshold).sum(axis=(-2, -1))
    za = zero_mask(jac_action, threshold).sum(axis=(-2, -1))
    ns = jac_state.shape[-2] * jac_state.shape[-1]
    na = jac_action.shape[-2] * jac_action.shape[-1]
    finite = jacobians_finite(jac_state, jac_action)
    sa = za / na if na else xp.zeros_like(zs, dtype=float)
    out = xp.stack([zs / ns, sa, (zs + za) / (ns + na)], axis=-1)
    return xp.where(finite[..., None], out, xp.nan)


def jacobians_finite(jac_state, jac_action):
    """True where every entry of both Jacobians is finite (per sample)."""
    xp = _namespace(jac_state)
    return xp.isfinite(jac_state).all(axis=(-2, -1)) & xp.isfinite(jac_action).all(axis=(-2, -1))


def _namespace(x):
    import numpy as np

    if isinstance(x, np.ndarray | np.generic):
        return np
    import jax.numpy as jnp

    return jnp
