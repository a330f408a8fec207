"""Synthetic steps and headers for tests and benchmarks (no simulator needed): a test fixture.

Imported by the tests as ``synthetic_recordings`` (tests/ is on their path) and by the
benchmarks, run from the repository root, as ``tests.synthetic_recordings``.

:func:`synthetic_steps` draws arrays shaped like a recording's, with a few structural zeros
and zeros that switch on and off, so that other parts (analyses, replay) can be tested on
small recordings written with :class:`jacwrap.recording.RecordingWriter`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jacwrap.recording.header import RecordingHeader
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD, jacobians_finite, sparsity_triplet


def synthetic_header(
    n: int = 4, m: int = 2, obs_dim: int = 5, *, jac_dtype: str = "float64", **kw: Any
) -> RecordingHeader:
    """A header for synthetic data (``nq = n // 2``, ``nv = n - nq``)."""
    nq = n // 2
    return RecordingHeader(
        env_name=kw.pop("env_name", "Synthetic"),
        nq=nq,
        nv=n - nq,
        nu=m,
        obs_dim=obs_dim,
        state_labels=tuple(
            [f"qpos:j{i}" for i in range(nq)] + [f"qvel:j{i}" for i in range(n - nq)]
        ),
        action_labels=tuple(f"act:a{i}" for i in range(m)),
        threshold=kw.pop("threshold", GROUND_TRUTH_THRESHOLD),
        jac_dtype=jac_dtype,
        **kw,
    )


def synthetic_steps(
    rng: np.random.Generator, k: int, header: RecordingHeader, *, nan_every: int = 0
) -> dict[str, np.ndarray]:
    """k steps of one trajectory as ``RecordingWriter.add_batch`` keyword arrays (float64
    Jacobians; ``next_state[t] == state[t + 1]``). Every ``nan_every``-th step (if > 0) has
    a NaN Jacobian entry (not finite)."""
    n, m, thr = header.n, header.m, header.threshold
    s = np.cumsum(rng.normal(size=(k + 1, n)) * 0.01, axis=0)
    js = np.eye(n) + rng.normal(size=(k, n, n)) * 1e-2
    ja = rng.normal(size=(k, n, m)) * 1e-3
    js[:, 0, -1] = 0.0  # a structural zero
    flick = rng.random((k, n, n)) < 0.3  # zeros that switch on and off
    js[flick] *= thr * 0.5
    if m:
        ja[:, 0, 0] = 0.0
    if nan_every:
        js[nan_every - 1 :: nan_every, -1, 0] = np.nan
    return {
        "obs": rng.normal(size=(k, header.obs_dim)).astype(np.float32),
        "action": rng.uniform(-1, 1, size=(k, m)),
        "reward": rng.random(k),
        "terminated": np.zeros(k, bool),
        "truncated": np.zeros(k, bool),
        "state": s[:-1],
        "next_state": s[1:],
        "jac_state": js,
        "jac_action": ja,
        "sparsity": sparsity_triplet(js, ja, thr),
        "finite": jacobians_finite(js, ja),
    }
