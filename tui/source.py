"""Thread-safe, lazy access to one open recording for the app's worker threads.

Wraps a :class:`jacwrap.recording.Recording` (all decoding is the library's): a lock
serialises reads, episodes are streamed chunk by chunk into an
:class:`~tui.episode.EpisodeView`, and Jacobian values are read in blocks of
``block_steps`` consecutive steps kept in a small LRU cache, so memory stays bounded
whatever the file size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .episode import VIEW_FIELDS, EpisodeView, build_episode_view

BLOCK_STEPS = 256
MAX_BLOCKS = 8


def default_opener(path: str | Path) -> Any:
    """``jacwrap.recording.open_recording`` (imported when first needed)."""
    from jacwrap.recording import open_recording

    return open_recording(path)


class RecordingSource:
    """The app's handle on an open recording (safe to call from several worker threads)."""

    def __init__(
        self, recording: Any, block_steps: int = BLOCK_STEPS, max_blocks: int = MAX_BLOCKS
    ):
        self.recording = recording
        self.block_steps = block_steps
        self.max_blocks = max_blocks
        # Reads are serialised by _io_lock; the cache has its own lock that is only ever held
        # briefly, so the UI thread never waits for a read in progress.
        self._io_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._blocks: OrderedDict[int, Any] = OrderedDict()

    @classmethod
    def open(cls, path: str | Path, opener: Callable[[str | Path], Any] | None = None):
        """Open ``path`` (reads only the header and index; raises the library's errors)."""
        return cls((opener or default_opener)(path))

    @property
    def header(self) -> Any:
        return self.recording.header

    @property
    def episodes(self) -> list[Any]:
        return self.recording.episodes

    @property
    def num_episodes(self) -> int:
        return len(self.recording.episodes)

    @property
    def path(self) -> Path:
        return Path(self.recording.path)

    @property
    def truncated_tail(self) -> str | None:
        return getattr(self.recording, "truncated_tail", None)

    def load_episode(
        self, index: int, cancelled: Callable[[], bool] = lambda: False
    ) -> EpisodeView:
        """Stream episode ``index`` into an :class:`EpisodeView` (run statistics included)."""
        info = self.recording.episodes[index]
        with self._io_lock:
            chunks = list(self._chunks(index, cancelled))
        return build_episode_view(info, chunks, cancelled)

    def _chunks(self, index: int, cancelled: Callable[[], bool]):
        for chunk in self.recording.iter_chunks(episode=index):
            yield _Light(chunk)
            if cancelled():
                return

    def block_of(self, step: int) -> int:
        """Index of the block that holds global step ``step``."""
        return step // self.block_steps

    def cached_step(self, step: int) -> tuple[Any, int] | None:
        """The cached ``Steps`` block holding global ``step`` and its offset, or ``None``.

        Never reads the file and never waits for a read (safe on the UI thread).
        """
        block = self.block_of(step)
        with self._cache_lock:
            steps = self._blocks.get(block)
            if steps is None:
                return None
            self._blocks.move_to_end(block)
        return steps, step - block * self.block_steps

    def load_block(self, block: int) -> None:
        """Read block ``block`` into the LRU cache unless it is there; blocking."""
        if self.is_cached(block):
            return
        with self._io_lock:
            if self.is_cached(block):  # read by another worker meanwhile
                return
            start = block * self.block_steps
            stop = min(start + self.block_steps, self.recording.num_steps)
            steps = self.recording.read(start, stop)
        with self._cache_lock:
            self._blocks[block] = steps
            while len(self._blocks) > self.max_blocks:
                self._blocks.popitem(last=False)

    def is_cached(self, block: int) -> bool:
        with self._cache_lock:
            return block in self._blocks

    def close(self) -> None:
        close = getattr(self.recording, "close", None)
        if close is not None:
            close()


class _Light:
    """The fields of a ``Steps`` chunk that an :class:`EpisodeView` keeps (drops the values)."""

    __slots__ = VIEW_FIELDS

    def __init__(self, steps: Any):
        for name in VIEW_FIELDS:
            setattr(self, name, getattr(steps, name, None))
