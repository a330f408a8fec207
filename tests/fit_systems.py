"""Synthetic systems with known Jacobians for the fit tests (no simulator needed)."""

from __future__ import annotations

import numpy as np

from jacwrap.fit.data import FitData

#: s' = A s + B a with many exact zeros (n = 4, m = 2): 9 of 16 zeros in A, 6 of 8 in B.
A = np.array(
    [
        [0.9, 0.0, 0.3, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [-0.5, 0.0, 0.8, 0.0],
        [0.0, 0.2, 0.0, 0.7],
    ]
)
B = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, 0.0], [0.0, -0.4]])


def linear_data(num: int = 2000, corr: float = 0.999, seed: int = 0) -> FitData:
    """Samples of the linear system with s[3] almost a copy of s[1] (correlation ``corr``).

    From the states alone a model cannot tell s[1] and s[3] apart, so the next-state loss
    leaves their columns of the Jacobian undetermined; a Jacobian loss pins them down.
    """
    rng = np.random.default_rng(seed)
    n, m = B.shape
    s = rng.normal(size=(num, n))
    s[:, 3] = corr * s[:, 1] + np.sqrt(1 - corr**2) * s[:, 3]
    a = rng.normal(size=(num, m))
    s_next = s @ A.T + a @ B.T
    return FitData.from_arrays(
        s,
        a,
        s_next,
        np.broadcast_to(A, (num, n, n)),
        np.broadcast_to(B, (num, n, m)),
        env_name="Linear",
    )
