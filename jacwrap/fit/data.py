"""In-memory training data of a fit: (s, a, s', J_s, J_a) with ground-truth zero masks.

:class:`FitData` is what the trainer consumes; :mod:`jacwrap.fit.dataset` fills it from
recordings, tests fill it from arrays. Samples whose Jacobians (or states) are not finite
are dropped here, and counted, never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jacwrap.errors import JacwrapError
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD, jacobians_finite, sparsity_triplet, zero_mask


class FitDataError(JacwrapError, ValueError):
    """Data that cannot be fitted (wrong shapes, too few samples, mixed environments)."""


@dataclass
class FitData:
    """N transitions with their ground-truth Jacobians (all finite).

    ``zero`` is the (N, n, n+m) mask of the ground truth's zero elements of [J_s | J_a] at
    ``threshold``; ``sparsity`` the (N, 3) ground-truth sparsity [state, action, combined].
    """

    state: np.ndarray
    action: np.ndarray
    next_state: np.ndarray
    jac_state: np.ndarray
    jac_action: np.ndarray
    zero: np.ndarray
    sparsity: np.ndarray
    threshold: float = GROUND_TRUTH_THRESHOLD
    env_name: str = ""
    sources: list[str] = field(default_factory=list)
    dropped_nonfinite: int = 0

    @property
    def n(self) -> int:
        return self.state.shape[1]

    @property
    def m(self) -> int:
        return self.action.shape[1]

    def __len__(self) -> int:
        return self.state.shape[0]

    @classmethod
    def from_arrays(
        cls,
        state,
        action,
        next_state,
        jac_state,
        jac_action,
        *,
        threshold: float = GROUND_TRUTH_THRESHOLD,
        zero_state=None,
        zero_action=None,
        sparsity=None,
        finite=None,
        env_name: str = "",
        sources=(),
    ) -> FitData:
        """Validate shapes, compute missing masks/sparsity at ``threshold``, drop non-finite rows."""
        state = np.asarray(state, dtype=np.float64)
        action = np.asarray(action, dtype=np.float64)
        next_state = np.asarray(next_state, dtype=np.float64)
        jac_state = np.asarray(jac_state)
        jac_action = np.asarray(jac_action)
        if state.ndim != 2 or action.ndim != 2:
            raise FitDataError(f"state and action must be 2-D, got {state.shape}, {action.shape}")
        num, n = state.shape
        m = action.shape[1]
        expected = {
            "action": (action.shape, (num, m)),
            "next_state": (next_state.shape, (num, n)),
            "jac_state": (jac_state.shape, (num, n, n)),
            "jac_action": (jac_action.shape, (num, n, m)),
        }
        for name, (got, want) in expected.items():
            if got != want:
                raise FitDataError(f"{name} has shape {got}, expected {want}")
        if zero_state is None:
            zero_state = zero_mask(jac_state.astype(np.float64), threshold)
        if zero_action is None:
            zero_action = zero_mask(jac_action.astype(np.float64), threshold)
        if sparsity is None:
            sparsity = sparsity_triplet(
                jac_state.astype(np.float64), jac_action.astype(np.float64), threshold
            )
        ok = jacobians_finite(jac_state, jac_action)
        ok &= np.isfinite(state).all(1) & np.isfinite(action).all(1)
        ok &= np.isfinite(next_state).all(1)
        if finite is not None:
            ok &= np.asarray(finite, dtype=bool)
        zero = np.concatenate([np.asarray(zero_state), np.asarray(zero_action)], axis=-1)
        return cls(
            state=state[ok],
            action=action[ok],
            next_state=next_state[ok],
            jac_state=jac_state[ok],
            jac_action=jac_action[ok],
            zero=zero[ok].astype(bool),
            sparsity=np.asarray(sparsity, dtype=np.float64)[ok],
            threshold=float(threshold),
            env_name=env_name,
            sources=[str(s) for s in sources],
            dropped_nonfinite=int(num - ok.sum()),
        )

    def jacobian(self, idx=None) -> np.ndarray:
        """[J_s | J_a] of the rows ``idx`` (default all), (k, n, n+m) float64."""
        js, ja = (
            (self.jac_state, self.jac_action)
            if idx is None
            else (self.jac_state[idx], self.jac_action[idx])
        )
        return np.concatenate([js, ja], axis=-1).astype(np.float64)


def split_indices(num: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random (train, test) split of range(num) with round(num * test_fraction) >= 1 test rows."""
    if not 0.0 < test_fraction < 1.0:
        raise FitDataError(f"test fraction must be in (0, 1), got {test_fraction}")
    if num < 2:
        raise FitDataError(f"need at least 2 finite samples to fit, got {num}")
    num_test = min(num - 1, max(1, round(num * test_fraction)))
    perm = np.random.default_rng(seed).permutation(num)
    return np.sort(perm[num_test:]), np.sort(perm[:num_test])
