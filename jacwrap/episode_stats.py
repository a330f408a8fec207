"""Per-episode statistics of zero masks over time: the one implementation.

``jacwrap summary`` (:mod:`jacwrap.recording.summary`), ``jacwrap analyze``
(:mod:`jacwrap.analysis.accumulators`) and the replay app (``tui/episode.py``) all compute
their run lengths, durations and shares here. Pure NumPy functions of arrays.

**Inputs.** One episode's zero masks ``(T, *shape)``, time first: ``(T, n, n)`` for J_s,
``(T, n, m)`` for J_a, ``(T, n, n+m)`` for [J_s | J_a] (an element is zero when
``|J_ij| < threshold``, :mod:`jacwrap.sparsity`), and its ``finite`` flags ``(T,)``. Steps
whose Jacobians are not finite are dropped first; what remains are the *kept* steps.

**Runs.** Over the kept steps, each element's mask splits into maximal runs of consecutive
steps in which it stays zero (*zero runs*) or non-zero (*non-zero runs*). A run that covers
the whole episode (the element never switches) is excluded from every run count, length and
mean, as in the paper's Q3 (docs/SCIENCE.md, "Q3 temporal sparsity"); such an element is
counted as *always zero* (or never zero) instead.

**Names** (each with one meaning wherever it appears; a :class:`RunLengths` holds one
episode, from :func:`episode_runs`, or the sum of several, through :meth:`RunLengths.merge`):

============================  ===================================================  =========
name                          what it is                                           unit
============================  ===================================================  =========
``episodes``                  episodes tallied that have at least one kept step    episodes
``switches``                  per element: zero <-> non-zero changes between       count
                              consecutive kept steps
``total_switches``            ``switches`` summed over the elements                count
``episodes_always_zero``      per element: episodes in which it is zero at every   episodes
                              kept step
``always_zero``               per element: zero at every kept step of every        bool
                              tallied episode (False when none)
``always_zero_count``         number of ``always_zero`` elements                   elements
``always_zero_pct``           ``percent(always_zero_count, elements)``             %
``zero_runs``                 per element: number of its zero runs                 runs
``zero_steps``                per element: kept steps in its zero runs             steps
``zero_hist``                 ``zero_hist[L]``: zero runs of length L, all         runs
                              elements pooled
``zero_run_lengths``          the length of every zero run, all elements pooled,   steps
                              sorted
``mean_zero``                 **pooled** mean zero-run duration: total length of   steps
                              all zero runs of all elements / their number (each
                              run counts once); NaN when there is none
``mean_zero_per_element``     **per element** mean zero-run duration:              steps
                              ``zero_steps / zero_runs``; NaN where it has none
``percent(count, total)``     ``100 * count / total``; NaN where ``total`` is 0    %
``sparsity_stats``            mean, min and max of the per-step sparsity over the  share
                              kept steps (NaN when none are kept)                  (0-1)
============================  ===================================================  =========

The ``nonzero_*`` names are the same for the non-zero runs.

**Where the two means appear** under their exported names:

* ``mean_zero_run`` of a ``jacwrap summary`` row: the pooled ``mean_zero`` of one episode's
  [J_s | J_a] (every element of both matrices);
* ``mean_run`` of an analysis ``summary.json`` and ``q3_run_lengths.png``: the pooled
  ``mean_zero`` of J_s (of J_a) over every episode of the env;
* ``mean_zero_run`` column of an analysis ``q3_mean_durations.csv`` (one row per element):
  ``mean_zero_per_element`` over every episode of the env;
* replay app: the episode panel shows the pooled ``mean_zero`` of the episode's J_s (J_a),
  the selected-element panel that element's ``mean_zero_per_element`` in the episode.

A hand-worked example (element 0 has zero runs of 2 and 1 steps and one non-zero run of 2;
element 1 is zero throughout, a whole-episode run, so it is excluded from the runs):

>>> import numpy as np
>>> mask = np.array([[1, 1], [1, 1], [0, 1], [0, 1], [1, 1]], bool)  # (T=5, 2 elements)
>>> r = episode_runs(mask)
>>> r.switches.tolist(), r.always_zero.tolist()
([2, 0], [False, True])
>>> r.zero_run_lengths.tolist(), r.mean_zero, r.mean_nonzero
([1, 2], 1.5, 2.0)
>>> r.always_zero_pct
50.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from jacwrap.sparsity import SPARSITY_KINDS

_PER_ELEMENT = (
    "switches",
    "episodes_always_zero",
    "zero_runs",
    "nonzero_runs",
    "zero_steps",
    "nonzero_steps",
)


def _hist0() -> np.ndarray:
    return np.zeros(1, np.int64)


@dataclass
class RunLengths:
    """Run statistics of one matrix's elements over one or more episodes (module docstring).

    ``RunLengths(shape)`` is the empty tally; :func:`episode_runs` tallies one episode and
    :meth:`merge` / :meth:`add_episode` add more. Per-element arrays have shape ``shape``.
    """

    shape: tuple[int, ...]
    episodes: int = 0
    zero_hist: np.ndarray = field(default_factory=_hist0)
    nonzero_hist: np.ndarray = field(default_factory=_hist0)
    switches: np.ndarray = field(default=None)  # type: ignore[assignment]
    episodes_always_zero: np.ndarray = field(default=None)  # type: ignore[assignment]
    zero_runs: np.ndarray = field(default=None)  # type: ignore[assignment]
    nonzero_runs: np.ndarray = field(default=None)  # type: ignore[assignment]
    zero_steps: np.ndarray = field(default=None)  # type: ignore[assignment]
    nonzero_steps: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        for name in _PER_ELEMENT:
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(self.shape, np.int64))

    def merge(self, other: RunLengths) -> None:
        """Add another tally of the same element shape into this one."""
        if other.shape != self.shape:
            raise ValueError(f"cannot merge run lengths of shape {other.shape} into {self.shape}")
        self.episodes += other.episodes
        self.zero_hist = _add_hist(self.zero_hist, other.zero_hist)
        self.nonzero_hist = _add_hist(self.nonzero_hist, other.nonzero_hist)
        for name in _PER_ELEMENT:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def add_episode(self, mask: np.ndarray, finite: np.ndarray | None = None) -> None:
        """Add one whole episode's zero masks ``(T, *shape)``: ``merge(episode_runs(...))``."""
        self.merge(episode_runs(mask, finite))

    # -- derived (module docstring) ------------------------------------------------------
    @property
    def always_zero(self) -> np.ndarray:
        return (self.episodes_always_zero == self.episodes) & (self.episodes > 0)

    @property
    def always_zero_count(self) -> int:
        return int(self.always_zero.sum())

    @property
    def always_zero_pct(self) -> float:
        return percent(self.always_zero_count, math.prod(self.shape))

    @property
    def total_switches(self) -> int:
        return int(self.switches.sum())

    @property
    def zero_run_lengths(self) -> np.ndarray:
        return np.repeat(np.arange(self.zero_hist.size), self.zero_hist)

    @property
    def nonzero_run_lengths(self) -> np.ndarray:
        return np.repeat(np.arange(self.nonzero_hist.size), self.nonzero_hist)

    @property
    def mean_zero(self) -> float:
        return _hist_mean(self.zero_hist)

    @property
    def mean_nonzero(self) -> float:
        return _hist_mean(self.nonzero_hist)

    @property
    def mean_zero_per_element(self) -> np.ndarray:
        return _ratio(self.zero_steps, self.zero_runs)

    @property
    def mean_nonzero_per_element(self) -> np.ndarray:
        return _ratio(self.nonzero_steps, self.nonzero_runs)


def episode_runs(zero_mask: np.ndarray, finite: np.ndarray | None = None) -> RunLengths:
    """The :class:`RunLengths` of one episode's zero masks ``(T, *shape)`` (time first).

    ``finite`` ``(T,)`` drops non-finite steps first; an episode with no kept step gives the
    empty tally (``episodes == 0``).
    """
    mask = np.asarray(zero_mask, dtype=bool)
    if finite is not None:
        mask = mask[np.asarray(finite, dtype=bool)]
    shape, t = mask.shape[1:], mask.shape[0]
    if t == 0:
        return RunLengths(shape)
    by_element = mask.reshape(t, -1).T  # (k, T): element-major, so no run spans two rows
    k = by_element.shape[0]
    starts = np.ones((k, t), bool)  # True where a run begins
    starts[:, 1:] = by_element[:, 1:] != by_element[:, :-1]
    switches = starts[:, 1:].sum(axis=1)
    first = np.flatnonzero(starts)
    lengths = np.diff(np.append(first, k * t))
    element = first // t
    counted = switches[element] > 0  # whole-episode runs are excluded
    zero = by_element.ravel()[first]
    z, nz = counted & zero, counted & ~zero

    def per_element(sel: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = None if weights is None else weights[sel]
        return np.bincount(element[sel], w, minlength=k).astype(np.int64).reshape(shape)

    return RunLengths(
        shape,
        episodes=1,
        zero_hist=_bincount(lengths[z]),
        nonzero_hist=_bincount(lengths[nz]),
        switches=switches.astype(np.int64).reshape(shape),
        episodes_always_zero=by_element.all(axis=1).astype(np.int64).reshape(shape),
        zero_runs=per_element(z),
        nonzero_runs=per_element(nz),
        zero_steps=per_element(z, lengths),
        nonzero_steps=per_element(nz, lengths),
    )


def side_by_side(left: RunLengths, right: RunLengths) -> RunLengths:
    """The tally of the matrix [left | right] (columns joined), e.g. [J_s | J_a] from J_s and J_a.

    Both must tally the same episodes (the same rows): each element keeps its own runs, so
    the pooled histograms add and the per-element arrays are joined on the last axis.
    """
    if left.shape[:-1] != right.shape[:-1] or left.episodes != right.episodes:
        raise ValueError(
            f"cannot join run lengths of shapes {left.shape} and {right.shape} "
            f"({left.episodes} and {right.episodes} episodes)"
        )
    return RunLengths(
        (*left.shape[:-1], left.shape[-1] + right.shape[-1]),
        episodes=left.episodes,
        zero_hist=_add_hist(left.zero_hist, right.zero_hist),
        nonzero_hist=_add_hist(left.nonzero_hist, right.nonzero_hist),
        **{
            name: np.concatenate([getattr(left, name), getattr(right, name)], axis=-1)
            for name in _PER_ELEMENT
        },
    )


@dataclass(frozen=True)
class EpisodeStats:
    """Run statistics of one episode's J_s and J_a masks (kept steps only)."""

    steps: int
    kept_steps: int
    state: RunLengths
    action: RunLengths

    @property
    def combined(self) -> RunLengths:
        """The runs of [J_s | J_a]."""
        return side_by_side(self.state, self.action)


def episode_stats(
    zero_state: np.ndarray, zero_action: np.ndarray, finite: np.ndarray
) -> EpisodeStats:
    """:class:`EpisodeStats` of one episode's masks ``(T, n, n)``, ``(T, n, m)``, ``finite`` ``(T,)``."""
    finite = np.asarray(finite, dtype=bool)
    return EpisodeStats(
        steps=int(finite.size),
        kept_steps=int(finite.sum()),
        state=episode_runs(zero_state, finite),
        action=episode_runs(zero_action, finite),
    )


def sparsity_stats(
    sparsity: np.ndarray, finite: np.ndarray
) -> dict[str, tuple[float, float, float]]:
    """``{kind: (mean, min, max)}`` of the per-step sparsity ``(T, 3)`` over the kept steps.

    Kinds in :data:`jacwrap.sparsity.SPARSITY_KINDS` order; NaN when no step is kept.

    >>> sp = np.array([[0.5, 1.0, 0.6], [np.nan] * 3, [0.25, 0.0, 0.2]])
    >>> sparsity_stats(sp, np.array([True, False, True]))["state"]
    (0.375, 0.25, 0.5)
    """
    kept = np.asarray(sparsity, np.float64)[np.asarray(finite, dtype=bool)]
    if kept.shape[0] == 0:
        return {kind: (math.nan, math.nan, math.nan) for kind in SPARSITY_KINDS}
    return {
        kind: (float(kept[:, j].mean()), float(kept[:, j].min()), float(kept[:, j].max()))
        for j, kind in enumerate(SPARSITY_KINDS)
    }


def percent(count, total):
    """``100 * count / total`` (a float, or an array for an array ``count``); NaN where
    ``total`` is 0.

    >>> percent(1, 4), percent(0, 0)
    (25.0, nan)
    """
    if np.ndim(count) == 0:
        return 100.0 * float(count) / total if total else math.nan
    out = np.full(np.shape(count), np.nan)
    if total:
        np.divide(100.0 * np.asarray(count), total, out=out)
    return out


# -- runs of one series ----------------------------------------------------------------------
def element_runs(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of one boolean series: (lengths (R,), values (R,) bool), in time order.

    >>> lengths, values = element_runs(np.array([1, 1, 0, 1], bool))
    >>> lengths.tolist(), values.tolist()
    ([2, 1, 1], [True, False, True])
    """
    series = np.asarray(series, dtype=bool)
    if series.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    change = np.flatnonzero(series[1:] != series[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [series.size]])
    return (ends - starts).astype(np.int64), series[starts]


def current_run(series: np.ndarray, t: int) -> tuple[bool, int, int]:
    """The run containing step ``t`` of a boolean series: (value, start, length).

    >>> current_run(np.array([0, 0, 1, 1, 1, 0], bool), 3)
    (True, 2, 3)
    """
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


# -- helpers ---------------------------------------------------------------------------------
def _bincount(lengths: np.ndarray) -> np.ndarray:
    return np.bincount(lengths).astype(np.int64) if lengths.size else _hist0()


def _add_hist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if b.size > a.size:
        a, b = b, a
    out = a.copy()
    out[: b.size] += b
    return out


def _hist_mean(hist: np.ndarray) -> float:
    total = int(hist.sum())
    if total == 0:
        return math.nan
    return float((np.arange(hist.size) * hist).sum() / total)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out
