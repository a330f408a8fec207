"""The recordings an export or a dataset reads: opened once for their headers, grouped by env.

:func:`open_sources` reads each file's header, step and episode counts (the index, not the
steps) and closes it again; the readers reopen the files when they stream them. Files of one
environment must agree on everything that shapes a step (dimensions, observation size,
threshold, Jacobian dtype): :func:`check_compatible` says which file differs and how.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from jacwrap.data.errors import DataError
from jacwrap.recording import EpisodeInfo, RecordingHeader, open_recording

#: What must agree for steps of several files to form one table or one dataset.
LAYOUT_FIELDS = ("env_name", "n", "m", "obs_dim", "threshold", "jac_dtype")


@dataclass(frozen=True)
class Source:
    """One recording: path, header, counts, episodes, and what a killed writer left out."""

    path: Path
    header: RecordingHeader
    num_steps: int
    episodes: tuple[EpisodeInfo, ...]
    truncated_tail: str | None

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    def layout(self) -> tuple:
        return tuple(getattr(self.header, f) for f in LAYOUT_FIELDS)


def as_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """One path or many, as a list of :class:`Path` (at least one)."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    out = [Path(p) for p in paths]
    if not out:
        raise DataError("no recording given")
    return out


def open_sources(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Source]:
    """Header and counts of every recording (raises the reader's ``RecordingError``)."""
    sources = []
    for path in as_paths(paths):
        with open_recording(path) as rec:
            sources.append(
                Source(path, rec.header, rec.num_steps, tuple(rec.episodes), rec.truncated_tail)
            )
    return sources


def check_compatible(sources: Sequence[Source]) -> None:
    """Raise :class:`DataError` unless every source has the first one's step layout."""
    first = sources[0]
    for s in sources[1:]:
        diff = [
            f"{f} {getattr(s.header, f)!r} (not {getattr(first.header, f)!r})"
            for f in LAYOUT_FIELDS
            if getattr(s.header, f) != getattr(first.header, f)
        ]
        if diff:
            raise DataError(
                f"{s.path}: cannot be combined with {first.path}: {', '.join(diff)}; "
                "export or load them separately"
            )


def group_by_env(sources: Sequence[Source]) -> dict[str, list[Source]]:
    """Sources per environment name, in first-seen order; each group checked compatible."""
    groups: dict[str, list[Source]] = {}
    for s in sources:
        groups.setdefault(s.header.env_name, []).append(s)
    for group in groups.values():
        check_compatible(group)
    return groups


def unique_names(sources: Sequence[Source]) -> list[str]:
    """A distinct name per source: the file stem, ``-2``, ``-3``, ... on repeats."""
    taken: set[str] = set()
    out = []
    for s in sources:
        name, k = s.path.stem, 1
        while name in taken:
            k += 1
            name = f"{s.path.stem}-{k}"
        taken.add(name)
        out.append(name)
    return out
