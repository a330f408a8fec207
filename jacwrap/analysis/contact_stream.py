"""Contact statistics of a stream of chunks, reduced whole episode by whole episode.

:mod:`jacwrap.analysis.contact_stats` counts a change between two rows only inside the
arrays it is given, so a chunk boundary inside an episode would lose the changes there.
:class:`ContactStream` buffers the open episode's columns (the masks, contacts, sparsity and
bookkeeping; not the Jacobians), as :class:`~jacwrap.analysis.accumulators.EpisodeRuns`
does, and hands each finished episode to
:func:`~jacwrap.analysis.contact_stats.episode_contact_stats`. Memory is bounded by the
longest episode; one read of the file serves this and every other analysis.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from jacwrap.analysis.accumulators import episode_bounds
from jacwrap.analysis.contact_stats import ContactStats, episode_contact_stats

#: The step columns the contact statistics read (``Steps`` fields).
CONTACT_COLUMNS = ("zero_state", "zero_action", "contacts", "sparsity", "finite", "episode", "t")


class ContactStream:
    """:class:`ContactStats` of the chunks fed to :meth:`update` (steps in global order,
    each episode's steps contiguous, with contact data); ``stats`` is None until an episode
    has ended. Call :meth:`finish` once the stream has ended."""

    def __init__(self) -> None:
        self.stats: ContactStats | None = None
        self.episodes = 0
        self._episode: int | None = None
        self._parts: list[dict[str, np.ndarray]] = []

    def update(self, steps: Any) -> None:
        """Add one chunk."""
        for a, b, ep in episode_bounds(steps.episode):
            if ep != self._episode:
                self._close()
                self._episode = ep
            self._parts.append({c: np.asarray(getattr(steps, c))[a:b] for c in CONTACT_COLUMNS})

    def finish(self) -> ContactStream:
        """Close the open episode; returns self."""
        self._close()
        return self

    def _close(self) -> None:
        if not self._parts:
            return
        cols = {c: np.concatenate([p[c] for p in self._parts]) for c in CONTACT_COLUMNS}
        self._parts = []
        self._add(episode_contact_stats(SimpleNamespace(**cols)), 1)

    def _add(self, stats: ContactStats | None, episodes: int) -> None:
        if stats is not None:
            self.stats = stats if self.stats is None else self.stats + stats
        self.episodes += episodes

    def merge(self, other: ContactStream) -> None:
        """Add another finished stream (of other episodes, over the same contact pairs)."""
        if self._parts or other._parts:
            raise ValueError("finish() both contact streams before merging them")
        self._add(other.stats, other.episodes)
