"""What the app keeps of the current episode: per-step series, zero masks and run statistics.

Built by streaming the episode's chunks (``Recording.iter_chunks(episode=i)``): only the
light per-step series and the boolean zero masks are kept, never the Jacobian values
(those are read in small blocks around the current step, see :mod:`tui.source`). Memory
is about ``32 + n*(n+m)`` bytes a step of the current episode, whatever the file size.
Run statistics come from :func:`jacwrap.episode_stats.episode_stats` (the same code as
``jacwrap summary`` and ``jacwrap analyze``); nothing here recomputes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from jacwrap.episode_stats import RunLengths, current_run, episode_stats


@dataclass(frozen=True)
class EpisodeView:
    """One episode's per-step series (global steps ``start .. start+length-1``)."""

    index: int
    start: int
    length: int
    ret: float
    complete: bool
    sparsity: np.ndarray  # (T, 3) [state, action, combined], NaN where non-finite
    reward: np.ndarray  # (T,)
    finite: np.ndarray  # (T,) bool
    zero_state: np.ndarray  # (T, n, n) bool
    zero_action: np.ndarray  # (T, n, m) bool
    stats_state: RunLengths  # of this episode only (jacwrap.episode_stats names)
    stats_action: RunLengths
    contacts: np.ndarray | None = None  # (T, P) bool: pairs in contact (None: no data)
    n_contacts: np.ndarray | None = None  # (T,) int32
    n_constraints: np.ndarray | None = None  # (T,) int32

    @property
    def has_contacts(self) -> bool:
        return self.contacts is not None

    @property
    def n(self) -> int:
        return self.zero_state.shape[1]

    def zero_series(self, row: int, col: int) -> np.ndarray:
        """Zero mask over the episode of element (row, combined column) of [J_s | J_a]."""
        if col < self.n:
            return self.zero_state[:, row, col]
        return self.zero_action[:, row, col - self.n]

    def element_run(self, row: int, col: int, t: int) -> tuple[bool, int, int]:
        """(is_zero, start, length) of the element's run that contains step ``t``."""
        return current_run(self.zero_series(row, col), t)

    def element_stats(self, row: int, col: int) -> tuple[float, float, int]:
        """(mean zero run, mean non-zero run, switches) of one element over the episode
        (``mean_zero_per_element``, ``mean_nonzero_per_element``, ``switches``)."""
        stats, c = (self.stats_state, col) if col < self.n else (self.stats_action, col - self.n)
        return (
            float(stats.mean_zero_per_element[row, c]),
            float(stats.mean_nonzero_per_element[row, c]),
            int(stats.switches[row, c]),
        )


#: The ``Steps`` fields an :class:`EpisodeView` keeps (the contact ones are None in files
#: without contact data).
VIEW_FIELDS = (
    "sparsity",
    "reward",
    "finite",
    "zero_state",
    "zero_action",
    "contacts",
    "n_contacts",
    "n_constraints",
)


class Cancelled(Exception):
    """Raised by :func:`build_episode_view` when its ``cancelled`` callback says so."""


def build_episode_view(
    info: Any, chunks: Iterable[Any], cancelled: Callable[[], bool] = lambda: False
) -> EpisodeView:
    """Assemble an :class:`EpisodeView` from an ``EpisodeInfo`` and its ``Steps`` chunks."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in VIEW_FIELDS}
    for chunk in chunks:
        if cancelled():
            raise Cancelled
        for key, acc in parts.items():
            value = getattr(chunk, key, None)
            if value is not None:
                acc.append(np.asarray(value))
    arrays = {k: np.concatenate(v) if v else None for k, v in parts.items()}
    if arrays["reward"] is None:
        raise ValueError(f"episode {info.index} has no steps")
    stats = episode_stats(arrays["zero_state"], arrays["zero_action"], arrays["finite"])
    return EpisodeView(
        index=int(info.index),
        start=int(info.start),
        length=int(arrays["reward"].shape[0]),
        ret=float(info.ret),
        complete=bool(info.complete),
        sparsity=arrays["sparsity"],
        reward=arrays["reward"],
        finite=arrays["finite"],
        zero_state=arrays["zero_state"],
        zero_action=arrays["zero_action"],
        stats_state=stats.state,
        stats_action=stats.action,
        contacts=arrays["contacts"],
        n_contacts=arrays["n_contacts"],
        n_constraints=arrays["n_constraints"],
    )
