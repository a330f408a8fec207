"""Loading fit data (s, a, s', J_s, J_a) from recordings (a thin layer over the reader).

Recordings are streamed chunk by chunk (``Recording.iter_chunks``) and only the fields a fit
needs are kept. Several recordings can be fitted together when they share the environment
and the zero threshold. ``max_samples`` keeps the first N steps (in file order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jacwrap.fit.data import FitData, FitDataError

_FIELDS = (
    "state",
    "action",
    "next_state",
    "jac_state",
    "jac_action",
    "zero_state",
    "zero_action",
    "sparsity",
    "finite",
)


def load_fit_data(paths, max_samples: int | None = None) -> FitData:
    """FitData of the steps of one or more ``.jwr`` recordings (non-finite steps dropped).

    Raises the reader's ``RecordingError`` for a bad file and :class:`FitDataError` when the
    recordings do not match (environment, dimensions, threshold) or hold no steps.
    """
    from jacwrap.recording import open_recording

    if isinstance(paths, str | Path):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise FitDataError("no recording given")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in _FIELDS}
    first = None
    total = 0
    for path in paths:
        with open_recording(path) as rec:
            h = rec.header
            key = (h.env_name, h.n, h.m, float(h.threshold))
            if first is None:
                first = key
            elif key != first:
                raise FitDataError(
                    f"{path}: environment/dims/threshold {key} differ from {paths[0]}: {first}"
                )
            for steps in rec.iter_chunks():
                if max_samples is not None and total >= max_samples:
                    break
                k = len(steps)
                if max_samples is not None:
                    k = min(k, max_samples - total)
                for name in _FIELDS:
                    parts[name].append(np.asarray(getattr(steps, name))[:k])
                total += k
    if total == 0:
        raise FitDataError(f"{', '.join(map(str, paths))}: no steps to fit")
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    env_name, _, _, threshold = first
    return FitData.from_arrays(
        arrays["state"],
        arrays["action"],
        arrays["next_state"],
        arrays["jac_state"],
        arrays["jac_action"],
        threshold=threshold,
        zero_state=arrays["zero_state"],
        zero_action=arrays["zero_action"],
        sparsity=arrays["sparsity"],
        finite=arrays["finite"],
        env_name=env_name,
        sources=[str(p) for p in paths],
    )
