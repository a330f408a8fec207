"""Sparsity analyses of recordings (docs/SCIENCE.md, Q1-Q3): streaming reductions, tables, figures.

* :mod:`jacwrap.analysis.accumulators` - pure streaming reductions over ``Steps`` chunks
  (:class:`StreamStats`, :class:`ZeroStats`, :class:`RunLengths`, :class:`EpisodeRuns`,
  :class:`TsneSample`, :func:`stream_stats`).
* :mod:`jacwrap.analysis.tables` - Q1 and per-element tables (CSV, JSON, Markdown).
* :mod:`jacwrap.analysis.figures` - matplotlib PNGs.
* :mod:`jacwrap.analysis.embedding` - t-SNE of (s, a, s').
* :mod:`jacwrap.analysis.contact_stats` - what changes the sparsity: statistics of the zero
  masks against the contacts (pure); :mod:`jacwrap.analysis.contact_stream` - the same,
  streamed whole episode by whole episode.
* :mod:`jacwrap.analysis.report` - :func:`analyze` (what ``jacwrap analyze`` runs).
"""

from jacwrap.analysis.accumulators import (
    EpisodeRuns,
    Rollout,
    RunLengths,
    StreamStats,
    TsneSample,
    ZeroStats,
    sparsity_bin,
    stream_stats,
)

__all__ = [
    "EpisodeRuns",
    "Rollout",
    "RunLengths",
    "StreamStats",
    "TsneSample",
    "ZeroStats",
    "analyze",
    "sparsity_bin",
    "stream_stats",
]


def analyze(*args, **kwargs):
    """See :func:`jacwrap.analysis.report.analyze` (imported lazily: it pulls matplotlib)."""
    from jacwrap.analysis.report import analyze as _analyze

    return _analyze(*args, **kwargs)
