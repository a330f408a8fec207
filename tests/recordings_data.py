"""Small recordings written with jacwrap's own writer, for the export and dataset tests.

:func:`write_recording` writes ``episodes`` (lengths) of synthetic steps
(``synthetic_recordings``: structural and switching zeros, optional NaN Jacobians)
for two interleaved envs, in chunks of at most ``chunk_steps`` steps, so that episodes span
chunks and chunks span episodes. The header is shaped like the named env's.
"""

from __future__ import annotations

import numpy as np
from synthetic_recordings import synthetic_header, synthetic_steps

from jacwrap.recording import RecordingWriter

SHAPES = {"CartpoleBalance": (4, 1, 5), "ReacherHard": (4, 2, 6)}


def write_recording(
    path,
    env: str = "CartpoleBalance",
    episodes=(9, 14, 5, 11),
    *,
    nan_every: int = 0,
    jac_dtype: str = "float64",
    chunk_steps: int = 6,
    seed: int = 0,
    incomplete_last: bool = False,
):
    """Write the recording; returns its path. With ``incomplete_last`` the last episode is
    still running when the writer closes (an incomplete episode, as a stopped recorder's)."""
    n, m, obs_dim = SHAPES[env]
    header = synthetic_header(
        n, m, obs_dim, jac_dtype=jac_dtype, env_name=env, policy="synthetic", seed=seed,
        extra={"env_info": {"ctrl_low": [-1.0] * m, "ctrl_high": [1.0] * m,
                            "episode_length": 50}},
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    eps = [synthetic_steps(rng, T, header, nan_every=nan_every) for T in episodes]
    for e in eps[: len(eps) - incomplete_last]:
        e["truncated"][-1] = True
    with RecordingWriter(path, header, max_chunk_steps=chunk_steps) as w:
        # two envs take turns: episodes 0, 2, ... on env 0 and 1, 3, ... on env 1
        for pair in range(0, len(eps), 2):
            group = eps[pair : pair + 2]
            for t in range(max(len(e["reward"]) for e in group)):
                for j, e in enumerate(group):
                    T = len(e["reward"])
                    if t < T:
                        w.add(j, **{k: v[t] for k, v in e.items()})
    return path
