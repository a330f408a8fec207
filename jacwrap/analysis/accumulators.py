"""Streaming reductions over chunks of recorded steps (docs/SCIENCE.md, Q1-Q3).

Every accumulator here is fed ``Steps`` chunks (see :mod:`jacwrap.recording`; any object
with the same array attributes works) in global step order, keeps memory that does not grow
with the number of steps, and can be merged with another accumulator of the same shape, so
that several files of one environment are reduced file by file and combined at the end.

Steps whose Jacobians are non-finite (``finite == False``) are excluded from every count;
their number is kept in :attr:`ZeroStats.nonfinite`.

* :class:`ZeroStats` - per-element zero counts (Q1 global zeros, Q2 zero percentage) and the
  histogram and mean of the per-sample sparsity (Q2), taken from ``Steps.sparsity``.
* :class:`~jacwrap.episode_stats.RunLengths` - run lengths of one matrix's zero masks,
  episode by episode (Q3); defined, with the meaning of every statistic, in
  :mod:`jacwrap.episode_stats`.
* :class:`EpisodeRuns` - buffers the open episode across chunk boundaries (an episode is at
  most a few thousand steps) and hands each finished episode to two :class:`RunLengths`
  (J_s, J_a); keeps the per-step sparsity of the first episode (Q3 rollout).
* :class:`TsneSample` - a uniform sample, capped, of the (s, a, s') tuples of the first few
  episodes (Q2 t-SNE).
* :class:`StreamStats` - all of the above in one object: ``update(steps)``, ``finish()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jacwrap.episode_stats import RunLengths, percent
from jacwrap.sparsity import SPARSITY_KINDS

#: Histogram of the per-sample sparsity: 10 bins of width 0.1 on [0, 1] (1.0 in the last).
HIST_BINS = 10
HIST_EDGES = np.linspace(0.0, 1.0, HIST_BINS + 1)
HIST_WIDTH = 1.0 / HIST_BINS


def sparsity_bin(values: np.ndarray) -> np.ndarray:
    """Bin index 0..9 of sparsity values in [0, 1]; bins are [0, 0.1), ..., [0.9, 1.0].

    Sparsities are ratios k/N of small integers, so ``10 * k/N`` lands a rounding error away
    from an integer exactly when it should be one (0.3 -> 2.9999999999999996); the 1e-9 nudge
    puts such values in the bin that starts there, never crossing a true boundary (the gap to
    the next integer is at least 10/N, far above 1e-9 for any Jacobian size).
    """
    idx = np.floor(np.asarray(values, dtype=np.float64) * HIST_BINS + 1e-9).astype(np.int64)
    return np.clip(idx, 0, HIST_BINS - 1)


def _finite(steps: Any) -> np.ndarray:
    return np.asarray(steps.finite, dtype=bool)


def episode_bounds(episode: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, stop, episode index) of each run of equal ``episode`` values in a chunk."""
    episode = np.asarray(episode)
    if episode.size == 0:
        return []
    cuts = np.flatnonzero(episode[1:] != episode[:-1]) + 1
    bounds = np.concatenate([[0], cuts, [episode.size]]).tolist()
    return [(a, b, int(episode[a])) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@dataclass
class ZeroStats:
    """Per-element zero counts and per-sample sparsity histogram over finite samples.

    ``zero_state[i, j]`` is the number of finite samples in which J_s[i, j] is zero,
    ``hist[k, b]`` the number of finite samples whose sparsity of kind ``SPARSITY_KINDS[k]``
    (state, action, combined) falls in bin ``b``; ``sparsity_sum[k]`` their sum.
    """

    n: int
    m: int
    samples: int = 0
    nonfinite: int = 0
    zero_state: np.ndarray = field(default=None)  # type: ignore[assignment]
    zero_action: np.ndarray = field(default=None)  # type: ignore[assignment]
    hist: np.ndarray = field(default=None)  # type: ignore[assignment]
    sparsity_sum: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.zero_state is None:
            self.zero_state = np.zeros((self.n, self.n), np.int64)
        if self.zero_action is None:
            self.zero_action = np.zeros((self.n, self.m), np.int64)
        if self.hist is None:
            self.hist = np.zeros((len(SPARSITY_KINDS), HIST_BINS), np.int64)
        if self.sparsity_sum is None:
            self.sparsity_sum = np.zeros(len(SPARSITY_KINDS), np.float64)

    def update(self, steps: Any) -> None:
        """Add one chunk of steps."""
        finite = _finite(steps)
        k = int(finite.sum())
        self.nonfinite += int(finite.size - k)
        if k == 0:
            return
        self.samples += k
        all_finite = k == finite.size
        zs = steps.zero_state if all_finite else steps.zero_state[finite]
        za = steps.zero_action if all_finite else steps.zero_action[finite]
        self.zero_state += np.count_nonzero(zs, axis=0)
        self.zero_action += np.count_nonzero(za, axis=0)
        sp = np.asarray(steps.sparsity if all_finite else steps.sparsity[finite], np.float64)
        self.sparsity_sum += sp.sum(axis=0)
        bins = sparsity_bin(sp) + HIST_BINS * np.arange(len(SPARSITY_KINDS))
        self.hist += np.bincount(bins.ravel(), minlength=self.hist.size).reshape(self.hist.shape)

    def merge(self, other: ZeroStats) -> None:
        """Add another accumulator of the same shape into this one."""
        if (other.n, other.m) != (self.n, self.m):
            raise ValueError(f"cannot merge ({other.n},{other.m}) into ({self.n},{self.m})")
        self.samples += other.samples
        self.nonfinite += other.nonfinite
        self.zero_state += other.zero_state
        self.zero_action += other.zero_action
        self.hist += other.hist
        self.sparsity_sum += other.sparsity_sum

    # -- results -------------------------------------------------------------------------
    @property
    def global_zero_state(self) -> np.ndarray:
        """(n, n) bool: J_s elements zero in every finite sample (False when no samples)."""
        return (self.zero_state == self.samples) & (self.samples > 0)

    @property
    def global_zero_action(self) -> np.ndarray:
        """(n, m) bool: J_a elements zero in every finite sample (False when no samples)."""
        return (self.zero_action == self.samples) & (self.samples > 0)

    @property
    def zero_pct_state(self) -> np.ndarray:
        """(n, n) percentage of finite samples in which each J_s element is zero (NaN if none)."""
        return percent(self.zero_state, self.samples)

    @property
    def zero_pct_action(self) -> np.ndarray:
        """(n, m) percentage of finite samples in which each J_a element is zero (NaN if none)."""
        return percent(self.zero_action, self.samples)

    @property
    def hist_density(self) -> np.ndarray:
        """(3, 10) density of the per-sample sparsity (integrates to 1 over [0, 1])."""
        if self.samples == 0:
            return np.full(self.hist.shape, np.nan)
        return self.hist / (self.samples * HIST_WIDTH)

    @property
    def mean_sparsity(self) -> np.ndarray:
        """(3,) mean per-sample sparsity [state, action, combined] (NaN when no samples)."""
        if self.samples == 0:
            return np.full(len(SPARSITY_KINDS), np.nan)
        return self.sparsity_sum / self.samples


@dataclass
class Rollout:
    """Per-step sparsity of one episode (Q3): ``t`` (T,), ``sparsity`` (T, 3), ``finite`` (T,);
    ``contacts`` (T, P) its contact masks where the steps carry them (else None)."""

    episode: int
    t: np.ndarray
    sparsity: np.ndarray
    finite: np.ndarray
    contacts: np.ndarray | None = None


class EpisodeRuns:
    """Run lengths of J_s and J_a, fed chunk by chunk; episodes may span chunks.

    The open episode's masks are buffered (bounded by the episode length) and handed to
    :class:`RunLengths` when the next episode starts or :meth:`finish` is called. The first
    episode's per-step sparsity is kept as :attr:`rollout`.
    """

    def __init__(self, n: int, m: int):
        self.state = RunLengths((n, n))
        self.action = RunLengths((n, m))
        self.rollout: Rollout | None = None
        self._episode: int | None = None
        self._parts: list[tuple[np.ndarray, ...]] = []

    def update(self, steps: Any) -> None:
        """Add one chunk (steps in global order, each episode's steps contiguous)."""
        contacts = getattr(steps, "contacts", None)  # kept for the rollout only (shading)
        for a, b, ep in episode_bounds(steps.episode):
            if ep != self._episode:
                self._close()
                self._episode = ep
            keep = contacts is not None and self.rollout is None
            self._parts.append(
                (
                    steps.zero_state[a:b],
                    steps.zero_action[a:b],
                    np.asarray(steps.finite[a:b], bool),
                    np.asarray(steps.sparsity[a:b], np.float64),
                    np.asarray(steps.t[a:b]),
                    np.asarray(contacts[a:b]) if keep else None,
                )
            )

    def finish(self) -> None:
        """Close the open episode (call once the stream has ended)."""
        self._close()

    def _close(self) -> None:
        if not self._parts:
            return
        parts, self._parts = self._parts, []
        zs, za, finite, sp, t = (np.concatenate(x) for x in list(zip(*parts, strict=True))[:5])
        self.state.add_episode(zs, finite)
        self.action.add_episode(za, finite)
        if self.rollout is None:
            con = [p[5] for p in parts]
            contacts = None if any(c is None for c in con) else np.concatenate(con)
            ep = int(self._episode)  # type: ignore[arg-type]
            self.rollout = Rollout(ep, t, sp, finite, contacts)

    def merge(self, other: EpisodeRuns) -> None:
        """Add another (finished) accumulator; the first rollout seen is kept."""
        if self._parts or other._parts:
            raise ValueError("finish() both accumulators before merging them")
        self.state.merge(other.state)
        self.action.merge(other.action)
        if self.rollout is None:
            self.rollout = other.rollout


class TsneSample:
    """Uniform sample without replacement, at most ``cap`` steps, of the first episodes.

    Only finite steps of the first ``max_episodes`` episodes seen are eligible. Each eligible
    step gets an independent uniform key and the ``cap`` smallest keys are kept, so the sample
    is uniform over the eligible steps and two samples merge exactly (union, smallest keys).
    ``x`` holds the (s, a, s') tuples (k, 2n+m), ``sparsity`` the combined sparsity, and
    ``source``/``episode``/``t`` where each came from.
    """

    def __init__(self, cap: int = 2000, max_episodes: int = 10, seed: int = 0, source: int = 0):
        self.cap = int(cap)
        self.max_episodes = int(max_episodes)
        self.source = int(source)
        self.episodes: list[tuple[int, int]] = []  # (source, episode), in order seen
        self.eligible = 0  # steps the sample was drawn from
        self._rng = np.random.default_rng(seed)
        self.keys = np.zeros(0)
        self.x = np.zeros((0, 0))
        self.sparsity = np.zeros(0)
        self.src = np.zeros(0, np.int64)
        self.episode = np.zeros(0, np.int64)
        self.t = np.zeros(0, np.int64)

    def update(self, steps: Any) -> None:
        """Add one chunk."""
        if self.cap <= 0 or self.max_episodes <= 0:
            return
        episode = np.asarray(steps.episode, np.int64)
        seen = {e for s, e in self.episodes if s == self.source}
        if len(self.episodes) < self.max_episodes:
            uniq, first = np.unique(episode, return_index=True)
            for e in uniq[np.argsort(first)].tolist():  # the chunk's episodes, in order
                if e not in seen and len(self.episodes) < self.max_episodes:
                    self.episodes.append((self.source, e))
                    seen.add(e)
        take = np.isin(episode, np.fromiter(seen, np.int64, len(seen))) & _finite(steps)
        k = int(take.sum())
        if k == 0:
            return
        self.eligible += k
        x = np.concatenate(
            [
                np.asarray(steps.state[take], np.float64),
                np.asarray(steps.action[take], np.float64),
                np.asarray(steps.next_state[take], np.float64),
            ],
            axis=1,
        )
        self._keep(
            self._rng.random(k),
            x,
            np.asarray(steps.sparsity[take][:, SPARSITY_KINDS.index("combined")], np.float64),
            np.full(k, self.source, np.int64),
            episode[take],
            np.asarray(steps.t[take], np.int64),
        )

    def _keep(self, keys, x, sp, src, ep, t) -> None:
        if self.keys.size:
            keys = np.concatenate([self.keys, keys])
            x = np.concatenate([self.x, x])
            sp = np.concatenate([self.sparsity, sp])
            src = np.concatenate([self.src, src])
            ep = np.concatenate([self.episode, ep])
            t = np.concatenate([self.t, t])
        if keys.size > self.cap:
            idx = np.argpartition(keys, self.cap - 1)[: self.cap]
            idx.sort()
            keys, x, sp, src, ep, t = keys[idx], x[idx], sp[idx], src[idx], ep[idx], t[idx]
        self.keys, self.x, self.sparsity, self.src, self.episode, self.t = keys, x, sp, src, ep, t

    def merge(self, other: TsneSample) -> None:
        """Add another sample (of other episodes); the result is uniform over both."""
        room = self.max_episodes - len(self.episodes)
        new = [e for e in other.episodes if e not in self.episodes]
        if len(new) > room:
            raise ValueError("merged t-SNE sample would exceed max_episodes")
        self.episodes.extend(new)
        self.eligible += other.eligible
        if other.keys.size:
            self._keep(other.keys, other.x, other.sparsity, other.src, other.episode, other.t)

    def __len__(self) -> int:
        return int(self.keys.size)


class StreamStats:
    """Every reduction of one stream of steps (one file, or several merged) of one env."""

    def __init__(
        self,
        n: int,
        m: int,
        *,
        tsne_cap: int = 2000,
        tsne_episodes: int = 10,
        seed: int = 0,
        source: int = 0,
    ):
        self.n, self.m = n, m
        self.steps = 0
        self.zeros = ZeroStats(n, m)
        self.runs = EpisodeRuns(n, m)
        self.tsne = TsneSample(tsne_cap, tsne_episodes, seed=seed, source=source)

    def update(self, steps: Any) -> None:
        """Add one chunk of steps."""
        self.steps += len(steps.finite)
        self.zeros.update(steps)
        self.runs.update(steps)
        self.tsne.update(steps)

    def finish(self) -> StreamStats:
        """Close the open episode; returns self."""
        self.runs.finish()
        return self

    def merge(self, other: StreamStats) -> None:
        """Add another finished stream of the same env shape."""
        self.steps += other.steps
        self.zeros.merge(other.zeros)
        self.runs.merge(other.runs)
        self.tsne.merge(other.tsne)


def stream_stats(chunks: Iterable[Any], n: int, m: int, **kwargs: Any) -> StreamStats:
    """Reduce an iterable of ``Steps`` chunks (e.g. ``rec.iter_chunks()``) to :class:`StreamStats`."""
    stats = StreamStats(n, m, **kwargs)
    for chunk in chunks:
        stats.update(chunk)
    return stats.finish()
