"""Streaming writer of ``.jwr`` recordings (append-only; crash-safe up to the last chunk).

Steps arrive per env (``add``) or per batch (``add_batch``). Episodes must be contiguous
global step ranges, so one env at a time *streams*: its steps go straight into the chunk
stream, while the other envs' steps wait in per-env buffers; when the streaming episode
ends, the episodes that completed meanwhile are written, then the env with the longest
buffered episode streams next. With one env, everything streams. Chunks are written (one
``write`` each, unbuffered) as soon as they fill, so a killed process leaves every written
chunk readable. Memory is bounded by the envs' in-progress episodes plus one chunk.
"""

from __future__ import annotations

import dataclasses
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jacwrap import schema
from jacwrap.recording import codec, format
from jacwrap.recording.errors import RecordingError, RecordingExistsError, over_limit
from jacwrap.recording.header import FORMAT_VERSION, RecordingHeader, encode_header
from jacwrap.sparsity import jacobians_finite, sparsity_triplet

DEFAULT_CHUNK_BYTES = 1 << 20
DEFAULT_MAX_CHUNK_STEPS = 1024

#: Fields the writer computes when they are not given (from the Jacobians and threshold).
COMPUTED = ("sparsity", "finite")


@dataclass
class _Segment:
    """A row of a chunk's segment table (:data:`format.SEGMENT_DTYPE`)."""

    episode: int
    env: int
    t0: int
    count: int = 0
    ends: bool = False
    ret: float = 0.0


class RecordingWriter:
    """Write a recording to ``path`` (refuses an existing file unless ``overwrite=True``).

    Use as a context manager, or call :meth:`close`; closing writes the index that makes
    opening fast. Episodes still in progress at close are written and marked incomplete.

    Args:
        path: file to create (``.jwr`` suggested).
        header: :class:`RecordingHeader` (dims, labels, threshold, ``jac_dtype``, ...).
        overwrite: replace an existing file.
        chunk_bytes: target uncompressed chunk size; chunks hold whole steps.
        max_chunk_steps: at most this many steps per chunk (bounds what a crash can lose).
        level: zstd compression level.

    Raises :class:`LimitError` (before creating the file) for what a reader would refuse:
    dims or a header over the format's limits, ``max_chunk_steps`` over
    ``MAX_CHUNK_STEPS`` or ``chunk_bytes`` over ``MAX_CHUNK_RAW`` (docs/FORMAT.md, Limits).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        header: RecordingHeader,
        *,
        overwrite: bool = False,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        max_chunk_steps: int = DEFAULT_MAX_CHUNK_STEPS,
        level: int = codec.DEFAULT_LEVEL,
    ):
        self.path = Path(path)
        header = dataclasses.replace(header, format_version=FORMAT_VERSION)
        self.header = header
        self._blocks = header.blocks
        self._fields = schema.writer_fields(header.groups)
        head = encode_header(header, codec.codec_description(self._blocks, level), path)
        if not 1 <= max_chunk_steps <= format.MAX_CHUNK_STEPS:
            limit = f"1..{format.MAX_CHUNK_STEPS}"
            raise over_limit(path, "writer", "max_chunk_steps", max_chunk_steps, limit)
        if chunk_bytes > format.MAX_CHUNK_RAW:
            limit = f"<= {format.MAX_CHUNK_RAW}"
            raise over_limit(path, "writer", "chunk_bytes", chunk_bytes, limit)
        per_step = schema.raw_step_size(header.dims, header.jac_dtype, header.groups)
        self.chunk_steps = int(max(1, min(max_chunk_steps, chunk_bytes // per_step)))
        self._level = level
        self._cctx = codec.compressor(level)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        try:
            fd = os.open(self.path, flags | getattr(os, "O_BINARY", 0), 0o644)
        except FileExistsError:
            raise RecordingExistsError(
                f"{self.path}: a file already exists (pass overwrite=True to replace it)"
            ) from None
        self._f = os.fdopen(fd, "wb", buffering=0)
        self._write(format.pack_prefix(FORMAT_VERSION, len(head)))
        self._write(head + format.crc(head).to_bytes(4, "little"))
        self._offset = self._f.tell()
        self._chunks: list[tuple[int, int, int, int]] = []
        self._episodes: list[format.EpisodeRow] = []
        self._num_steps = 0
        self._layout = schema.writer_layout(header.dims, header.groups)
        # chunk in progress
        self._chunk = _Columns(self._layout, self.chunk_steps)
        self._segments: list[_Segment] = []
        # per-env state: the steps of episodes not yet in the stream
        self._buffers: dict[int, _Columns] = {}
        self._queue: deque[tuple[int, _Columns]] = deque()
        self._streaming: int | None = None
        self._stream_episode = -1
        self._closed = False

    # -- public API ---------------------------------------------------------------------------
    @property
    def num_steps(self) -> int:
        """Steps written to the stream so far (buffered steps not included)."""
        return self._num_steps + self._chunk.size

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields :meth:`add_batch` takes (``sparsity``/``finite`` may be omitted)."""
        return tuple(f.name for f in self._fields)

    def add(self, env_index: int = 0, *, end_episode: bool | None = None, **fields: Any) -> None:
        """Record one step of env ``env_index``: every field of :attr:`fields` (the step
        schema, :data:`jacwrap.schema.FIELDS`) as a keyword with its per-step shape.

        ``end_episode`` (default ``terminated or truncated``) closes the env's episode; its
        next step starts a new one. ``sparsity``/``finite`` are computed when omitted.
        """
        self.add_batch(
            **{k: None if v is None else np.asarray(v)[None] for k, v in fields.items()},
            end_episode=None if end_episode is None else np.asarray([end_episode]),
            env_indices=[env_index],
        )

    def add_batch(self, *, end_episode=None, env_indices=None, **fields: Any) -> None:
        """Record one step of each of B envs: every field of :attr:`fields` as a keyword,
        an array with a leading axis B (``sparsity``/``finite`` computed when omitted).

        ``env_indices`` (default ``range(B)``) names the envs; ``end_episode`` (B,) bool
        defaults to ``terminated | truncated``. A missing or unknown field, or a wrong
        shape, raises before anything is written.
        """
        self._check_open()
        arrs = self._rows(fields)
        b = arrs["reward"].shape[0]
        if end_episode is None:
            ends = arrs["terminated"] | arrs["truncated"]
        else:
            ends = _arr(end_episode, bool, (b,), "end_episode")
        envs = range(b) if env_indices is None else [int(e) for e in env_indices]
        if len(envs) != b:
            raise ValueError(f"{len(envs)} env indices for a batch of {b}")
        for i, env in enumerate(envs):
            self._add_row(env, arrs, i, bool(ends[i]))

    def _rows(self, fields: dict[str, Any]) -> dict[str, np.ndarray]:
        """The fields as arrays of the schema's dtypes and shapes (``COMPUTED`` filled in)."""
        unknown = sorted(set(fields) - set(self.fields))
        missing = [f for f in self.fields if fields.get(f) is None and f not in COMPUTED]
        if unknown or missing:
            what = [f"unknown field(s) {unknown}" if unknown else ""]
            what += [f"missing field(s) {missing}" if missing else ""]
            raise TypeError(
                f"{self.path}: {'; '.join(w for w in what if w)}; this recording's fields "
                f"are {list(self.fields)}"
            )
        b = np.asarray(fields["reward"]).shape[0]
        dims, h = self.header.dims, self.header
        arrs: dict[str, np.ndarray] = {}
        for f in self._fields:
            if fields.get(f.name) is not None:
                arrs[f.name] = _arr(fields[f.name], f.dtype, (b, *f.shape(dims)), f.name)
        if "sparsity" not in arrs:
            arrs["sparsity"] = sparsity_triplet(arrs["jac_state"], arrs["jac_action"], h.threshold)
        if "finite" not in arrs:
            arrs["finite"] = jacobians_finite(arrs["jac_state"], arrs["jac_action"])
        return arrs

    def end_episode(self, env_index: int = 0) -> None:
        """Close env ``env_index``'s episode (e.g. a step limit of the caller) as complete."""
        self._check_open()
        if self._streaming == env_index:
            self._end_stream_episode(complete=True)
        elif env_index in self._buffers:
            self._queue.append((env_index, self._buffers.pop(env_index)))

    def flush(self) -> None:
        """Write the chunk in progress now (even if not full), e.g. before a long pause."""
        self._check_open()
        if not self._chunk.size:
            return
        self._write_chunk()
        if self._streaming is not None:  # the streaming episode continues in the next chunk
            ep = self._episodes[self._stream_episode]
            self._segments.append(_Segment(self._stream_episode, ep.env, ep.length, ret=ep.ret))

    def close(self) -> None:
        """Write everything still buffered (in-progress episodes marked incomplete), the
        index and the trailer, and close the file. Idempotent."""
        if self._closed:
            return
        try:
            if self._streaming is not None:
                self._end_stream_episode(complete=False)
            self._drain_queue()
            for env in sorted(self._buffers):
                self._stream_rows(env, self._buffers[env], complete=False)
            self._buffers.clear()
            self._write_chunk()
            chunks = np.array(self._chunks, dtype=np.uint64).reshape(-1, 4)
            table = np.zeros(len(chunks), format.CHUNK_ENTRY_DTYPE)
            for j, name in enumerate(format.CHUNK_ENTRY_DTYPE.names):
                table[name] = chunks[:, j]
            eps = format.table(self._episodes, format.EPISODE_DTYPE)
            index = format.pack_index(table, eps, self._num_steps)
            index_offset = self._offset
            self._write(index)
            self._write(format.pack_trailer(index_offset, index))
        finally:
            self._closed = True
            self._f.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- episode routing ----------------------------------------------------------------------
    def _add_row(self, env: int, arrs: dict[str, np.ndarray], i: int, ends: bool) -> None:
        if self._streaming is None:
            self._streaming = env
            self._start_stream_episode(env, self._buffers.pop(env, None))
        if self._streaming == env:
            self._append_row(arrs, i)
            if ends:
                self._end_stream_episode(complete=True)
        else:
            buf = self._buffers.get(env)
            if buf is None:
                buf = self._buffers[env] = _Columns(self._layout, 16)
            buf.append(arrs, i)
            if ends:
                self._queue.append((env, self._buffers.pop(env)))

    def _start_stream_episode(self, env: int, rows: _Columns | None) -> None:
        self._episodes.append(format.EpisodeRow(env, self.num_steps))
        self._stream_episode = len(self._episodes) - 1
        self._segments.append(_Segment(self._stream_episode, env, 0))
        if rows is not None:
            self._append_block(rows)

    def _end_stream_episode(self, complete: bool) -> None:
        self._episodes[self._stream_episode].complete = complete
        if complete and self._segments:
            self._segments[-1].ends = True
        self._streaming = None
        self._drain_queue()
        waiting = [(b.size, -e) for e, b in self._buffers.items() if b.size]
        if waiting:
            env = -max(waiting)[1]
            self._streaming = env
            self._start_stream_episode(env, self._buffers.pop(env))

    def _drain_queue(self) -> None:
        while self._queue:
            env, rows = self._queue.popleft()
            self._stream_rows(env, rows, complete=True)

    def _stream_rows(self, env: int, rows: _Columns, complete: bool) -> None:
        if not rows.size:
            return
        self._start_stream_episode(env, rows)
        self._episodes[self._stream_episode].complete = complete
        if complete and self._segments:
            self._segments[-1].ends = True

    def _make_room(self) -> None:
        """Write the chunk if it is full (only when the next step arrives, so that an
        episode end can still be marked in the segment of its last step)."""
        if self._chunk.size >= self.chunk_steps:
            self._write_chunk()
            ep = self._episodes[self._stream_episode]
            self._segments.append(_Segment(self._stream_episode, ep.env, ep.length))

    def _append_row(self, arrs: dict[str, np.ndarray], i: int) -> None:
        self._make_room()
        self._chunk.append(arrs, i)
        self._count(arrs["reward"][i : i + 1])

    def _append_block(self, rows: _Columns) -> None:
        pos = 0
        while pos < rows.size:
            self._make_room()
            take = min(rows.size - pos, self.chunk_steps - self._chunk.size)
            self._chunk.extend(rows, pos, pos + take)
            self._count(rows.a["reward"][pos : pos + take])
            pos += take

    def _count(self, rewards: np.ndarray) -> None:
        seg = self._segments[-1]
        ep = self._episodes[self._stream_episode]
        ret = ep.ret
        for r in rewards.tolist():  # sequential sum, the same whichever path a step took
            ret += r
        seg.count += len(rewards)
        ep.length += len(rewards)
        ep.ret = ret
        seg.ret = ret  # the episode's return so far (same value in index and scan)

    # -- chunk output ---------------------------------------------------------------------------
    def _write_chunk(self) -> None:
        segs = [s for s in self._segments if s.count > 0]
        k = self._chunk.size
        if not k:
            return
        cols = self._chunk.view(0, k)
        if self.header.jac_dtype == "float32":
            thr = self.header.threshold
            # float64 masks are stored exactly; entries below the threshold are stored as 0
            # (an absolute change < threshold, below float32's own rounding of the rest)
            for jac, mask in (("jac_state", "zero_state"), ("jac_action", "zero_action")):
                cols[mask] = np.abs(cols[jac]) < thr
                cols[jac] = np.where(cols[mask], 0.0, cols[jac]).astype(np.float32)
        raw = codec.encode_columns(cols, self._blocks, self.header.jac_dtype)
        payload = self._cctx.compress(raw)
        seg_arr = format.table(segs, format.SEGMENT_DTYPE)
        head = format.pack_chunk_head(k, self._num_steps, seg_arr, payload)
        frame = head + payload
        self._write(frame)
        self._chunks.append((self._offset, self._num_steps, k, len(frame)))
        self._offset += len(frame)
        self._num_steps += k
        self._chunk.size = 0
        self._segments = []

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._f.write(view)
            view = view[written:]

    def _check_open(self) -> None:
        if self._closed:
            raise RecordingError(f"{self.path}: writer is closed")


class _Columns:
    """Whole steps as one growable array per field (rows appended or copied in blocks)."""

    def __init__(self, layout: dict[str, tuple[tuple, Any]], capacity: int):
        self.size = 0
        self.a = {f: np.empty((capacity, *shape), dtype) for f, (shape, dtype) in layout.items()}

    def _reserve(self, extra: int) -> None:
        cap = next(iter(self.a.values())).shape[0]
        if self.size + extra > cap:
            new = max(2 * cap, self.size + extra)
            for f, a in self.a.items():
                grown = np.empty((new, *a.shape[1:]), a.dtype)
                grown[: self.size] = a[: self.size]
                self.a[f] = grown

    def append(self, arrs: dict[str, np.ndarray], i: int) -> None:
        self._reserve(1)
        s = self.size
        for f, a in self.a.items():
            a[s] = arrs[f][i]
        self.size = s + 1

    def extend(self, other: _Columns, start: int, stop: int) -> None:
        self._reserve(stop - start)
        s = self.size
        for f, a in self.a.items():
            a[s : s + stop - start] = other.a[f][start:stop]
        self.size = s + stop - start

    def view(self, start: int, stop: int) -> dict[str, np.ndarray]:
        return {f: a[start:stop] for f, a in self.a.items()}


def _arr(x, dtype, shape: tuple, name: str) -> np.ndarray:
    a = np.array(x, dtype=dtype, copy=True)
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
    return a
