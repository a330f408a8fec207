"""Run lengths of zero / non-zero states of Jacobian elements over time (SPEC.md Q3).

Pure NumPy. For one episode, each element's zero mask over time (T, ...) splits into
maximal runs of consecutive zero steps and of non-zero steps. A run that covers the whole
episode (the element never switches) is excluded from the durations, as in the paper.
Steps whose Jacobians are non-finite are dropped before the runs are computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RunStats:
    """Run-length statistics of an episode's zero masks, element-wise and pooled.

    ``zero_runs`` and ``nonzero_runs`` are the pooled run lengths of all elements (runs
    covering the whole episode excluded). Per-element arrays have the mask's element shape.
    """

    zero_runs: np.ndarray  # (R0,) int64
    nonzero_runs: np.ndarray  # (R1,) int64
    switches: np.ndarray  # (...) int64, number of zero<->non-zero changes per element
    always_zero: np.ndarray  # (...) bool, zero at every step
    mean_zero_per_element: np.ndarray  # (...) float64, NaN where no (partial) zero run
    mean_nonzero_per_element: np.ndarray  # (...) float64, NaN where no (partial) non-zero run

    @property
    def mean_zero(self) -> float:
        return float(self.zero_runs.mean()) if self.zero_runs.size else float("nan")

    @property
    def mean_nonzero(self) -> float:
        return float(self.nonzero_runs.mean()) if self.nonzero_runs.size else float("nan")

    @property
    def total_switches(self) -> int:
        return int(self.switches.sum())


def element_runs(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of one boolean series: (lengths (R,), values (R,) bool), in time order."""
    series = np.asarray(series, dtype=bool)
    if series.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    change = np.flatnonzero(series[1:] != series[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [series.size]])
    return (ends - starts).astype(np.int64), series[starts]


def run_stats(zero_mask: np.ndarray, finite: np.ndarray | None = None) -> RunStats:
    """Run statistics of one episode's zero masks ``(T, ...)`` (time first).

    ``finite`` (T,) drops non-finite steps first. Runs spanning the whole (kept) episode
    are excluded from ``zero_runs``/``nonzero_runs`` and from the per-element means.
    """
    mask = np.asarray(zero_mask, dtype=bool)
    if finite is not None:
        mask = mask[np.asarray(finite, dtype=bool)]
    t = mask.shape[0]
    elem_shape = mask.shape[1:]
    flat = mask.reshape(t, -1)
    k = flat.shape[1]
    switches = (flat[1:] != flat[:-1]).sum(axis=0) if t > 1 else np.zeros(k, np.int64)
    always_zero = flat.all(axis=0) if t > 0 else np.zeros(k, bool)
    zero_runs: list[np.ndarray] = []
    nonzero_runs: list[np.ndarray] = []
    mean_zero = np.full(k, np.nan)
    mean_nonzero = np.full(k, np.nan)
    for j in np.flatnonzero(switches):
        lengths, values = element_runs(flat[:, j])
        z, nz = lengths[values], lengths[~values]
        zero_runs.append(z)
        nonzero_runs.append(nz)
        if z.size:
            mean_zero[j] = z.mean()
        if nz.size:
            mean_nonzero[j] = nz.mean()
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64)  # noqa: E731
    return RunStats(
        zero_runs=cat(zero_runs),
        nonzero_runs=cat(nonzero_runs),
        switches=switches.reshape(elem_shape).astype(np.int64),
        always_zero=always_zero.reshape(elem_shape),
        mean_zero_per_element=mean_zero.reshape(elem_shape),
        mean_nonzero_per_element=mean_nonzero.reshape(elem_shape),
    )


def current_run(series: np.ndarray, t: int) -> tuple[bool, int, int]:
    """The run containing step ``t`` of a boolean series: (value, start, length)."""
    series = np.asarray(series, dtype=bool)
    if not 0 <= t < series.size:
        raise IndexError(f"step {t} outside 0..{series.size - 1}")
    v = series[t]
    diff = np.flatnonzero(series != v)
    before = diff[diff < t]
    after = diff[diff > t]
    start = int(before[-1] + 1) if before.size else 0
    end = int(after[0]) if after.size else series.size
    return bool(v), start, end - start
