"""Lazy, random-access reader of ``.jwr`` recordings.

Opening reads the prefix, the header and (for a cleanly closed file) the index at the end;
chunks are decoded only when their steps are read, and the last decoded chunk is cached.
Without an index (the writer was killed) the chunk heads are scanned instead and the
incomplete tail is reported in :attr:`Recording.truncated_tail`. Every inconsistency raises
a :class:`RecordingError` subclass naming the file and what is wrong.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import zstandard

from jacwrap.recording import codec, format
from jacwrap.recording.errors import (
    ChecksumError,
    NotARecordingError,
    RecordingError,
    RecordingNotFoundError,
    TruncatedError,
    UnsupportedVersionError,
)
from jacwrap.recording.header import FORMAT_VERSION, decode_header
from jacwrap.recording.steps import EpisodeInfo, Steps


def open_recording(
    path: str | os.PathLike | BinaryIO, *, allow_truncated: bool = True
) -> Recording:
    """Open a recording for reading (lazy; use as a context manager or call ``close``).

    ``path`` may also be a seekable binary file object (e.g. ``io.BytesIO``).

    A file without its index (writer killed) is recovered from its complete chunks and
    :attr:`Recording.truncated_tail` says what was dropped; with ``allow_truncated=False``
    that raises :class:`TruncatedError` instead.
    """
    return Recording(path, allow_truncated=allow_truncated)


class Recording:
    """An open recording (see :func:`open_recording` and docs/FORMAT.md).

    Attributes: ``path``; ``header`` (:class:`RecordingHeader`); ``num_steps``;
    ``episodes`` (list of :class:`EpisodeInfo`, in step order; episode i covers the global
    steps ``start .. start + length - 1``); ``truncated_tail`` (None, or what an unfinished
    write left out). Reads return :class:`Steps`: ``read(start, stop)``, ``step(k)``,
    ``episode(i)``, ``iter_chunks(episode=None)`` (bounded memory). Only the chunks that
    are read are decoded (and checksummed); ``verify()`` checks them all.
    """

    def __init__(self, path: str | os.PathLike | BinaryIO, *, allow_truncated: bool = True):
        if hasattr(path, "read") and hasattr(path, "seek"):
            self._f = path  # a binary file object (e.g. io.BytesIO); not closed by us
            self._owned = False
            self._name = str(getattr(path, "name", "<stream>"))
            self.path = Path(self._name)
            self._size = path.seek(0, os.SEEK_END)
        else:
            self.path = Path(path)
            self._name = str(path)
            try:
                self._f = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            except IsADirectoryError:
                raise NotARecordingError(f"{self._name}: is a directory") from None
            except FileNotFoundError:
                raise RecordingNotFoundError(f"{self._name}: no such file") from None
            except OSError as exc:
                raise RecordingError(f"{self._name}: cannot open ({exc.strerror})") from None
            self._owned = True
            self._size = os.fstat(self._f.fileno()).st_size
        try:
            self._open(allow_truncated)
        except BaseException:
            self.close()
            raise
        self._cache: tuple[int, Steps] | None = None

    # -- opening -------------------------------------------------------------------------------
    def _read_at(self, offset: int, size: int) -> bytes:
        self._f.seek(offset)
        return self._f.read(size)

    def _open(self, allow_truncated: bool) -> None:
        name, size = self._name, self._size
        pre = self._read_at(0, format.PREFIX.size)
        if size == 0:
            raise NotARecordingError(f"{name}: empty file, not a jacwrap recording")
        if not pre.startswith(format.MAGIC[: len(pre)]) or not pre:
            raise NotARecordingError(f"{name}: not a jacwrap recording (wrong magic bytes)")
        if len(pre) < format.PREFIX.size:
            raise TruncatedError(f"{name}: truncated inside the file prefix ({size} bytes)")
        _, version, header_len, prefix_crc = format.PREFIX.unpack(pre)
        if format.crc(pre[:16]) != prefix_crc:
            raise ChecksumError(f"{name}: checksum mismatch in the file prefix (bytes 0..20)")
        if version != FORMAT_VERSION:
            newer = "a newer" if version > FORMAT_VERSION else "an unknown"
            raise UnsupportedVersionError(
                f"{name}: format version {version} ({newer} jacwrap); this reader reads "
                f"version {FORMAT_VERSION}"
            )
        if header_len > format.MAX_HEADER_LEN:
            raise NotARecordingError(f"{name}: header length {header_len} is implausible")
        hstart = format.PREFIX.size
        self._data_start = hstart + header_len + 4
        if size < self._data_start:
            raise TruncatedError(
                f"{name}: truncated inside the header (file has {size} bytes, the header "
                f"ends at byte {self._data_start})"
            )
        raw = self._read_at(hstart, header_len + 4)
        if format.crc(raw[:-4]) != int.from_bytes(raw[-4:], "little"):
            raise ChecksumError(f"{name}: checksum mismatch in the header (bytes {hstart}..)")
        self.header, self.codec = decode_header(raw[:-4], name)
        if self.codec.get("name") != codec.CODEC_NAME or self.codec.get("compression") != "zstd":
            raise UnsupportedVersionError(f"{name}: unknown chunk codec {self.codec.get('name')!r}")
        h = self.header
        self._specs = codec.column_specs(h.n, h.m, h.obs_dim, h.jac_dtype)
        self.truncated_tail: str | None = None
        tail = self._read_at(size - format.TRAILER.size, format.TRAILER.size)
        has_footer = (
            size >= self._data_start + format.INDEX_HEAD.size + format.TRAILER.size
            and tail.endswith(format.END_MAGIC)
        )
        if has_footer:
            self._read_index(tail)
        else:
            self._scan()
            if self.truncated_tail and not allow_truncated:
                raise TruncatedError(self.truncated_tail)

    def _read_index(self, tail: bytes) -> None:
        name, size = self._name, self._size
        offset, length, index_crc, _ = format.TRAILER.unpack(tail)
        if offset < self._data_start or offset + length + format.TRAILER.size != size:
            raise ChecksumError(f"{name}: the trailer's index position is inconsistent")
        index = self._read_at(offset, length)
        if format.crc(index) != index_crc:
            raise ChecksumError(f"{name}: checksum mismatch in the index at byte offset {offset}")
        if length < format.INDEX_HEAD.size:
            raise ChecksumError(f"{name}: the index is too short")
        tag, n_chunks, n_eps, _, num_steps = format.INDEX_HEAD.unpack_from(index)
        ce, ee = format.CHUNK_ENTRY_DTYPE.itemsize, format.EPISODE_DTYPE.itemsize
        if tag != format.INDEX_TAG or length != format.INDEX_HEAD.size + n_chunks * ce + n_eps * ee:
            raise ChecksumError(f"{name}: the index has an inconsistent layout")
        pos = format.INDEX_HEAD.size
        chunks = np.frombuffer(index, format.CHUNK_ENTRY_DTYPE, n_chunks, pos)
        eps = np.frombuffer(index, format.EPISODE_DTYPE, n_eps, pos + n_chunks * ce)
        first = chunks["first_step"].astype(np.int64)
        steps = chunks["n_steps"].astype(np.int64)
        ends = chunks["offset"].astype(np.int64) + chunks["frame_len"].astype(np.int64)
        ok = (
            (n_chunks == 0 or (first[0] == 0 and chunks["offset"][0] == self._data_start))
            and np.array_equal(first[1:], (first + steps)[:-1])
            and np.array_equal(chunks["offset"][1:].astype(np.int64), ends[:-1])
            and int(steps.sum()) == num_steps
            and (n_chunks == 0 or int(ends[-1]) == offset)
            and (steps >= 1).all()
            and self._episodes_consistent(eps, num_steps)
        )
        if not ok:
            raise ChecksumError(f"{name}: the index does not describe the file's chunks")
        self._set_chunks(chunks["offset"], first, steps, chunks["frame_len"])
        self.episodes = [
            EpisodeInfo(
                i,
                int(e["env"]),
                int(e["start"]),
                int(e["length"]),
                float(e["ret"]),
                bool(e["complete"]),
            )
            for i, e in enumerate(eps)
        ]

    @staticmethod
    def _episodes_consistent(eps: np.ndarray, num_steps: int) -> bool:
        start = eps["start"].astype(np.int64)
        length = eps["length"].astype(np.int64)
        if len(eps) == 0:
            return num_steps == 0
        return bool(
            start[0] == 0
            and np.array_equal(start[1:], (start + length)[:-1])
            and int(length.sum()) == num_steps
            and (length >= 1).all()
            and np.isin(eps["complete"], (0, 1)).all()
        )

    def _set_chunks(self, offsets, first, steps, frame_len) -> None:
        self._offsets = np.asarray(offsets, np.int64)
        self._first = np.asarray(first, np.int64)
        self._nsteps = np.asarray(steps, np.int64)
        self._frame_len = np.asarray(frame_len, np.int64)
        self.num_steps = int(self._nsteps.sum())

    def _scan(self) -> None:
        """Rebuild the chunk table and episodes from the chunk heads (no index)."""
        name, size = self._name, self._size
        pos, step = self._data_start, 0
        offsets, firsts, counts, lens = [], [], [], []
        episodes: list[list] = []  # env, start, length, ret, complete
        dropped = None
        while pos < size:
            head = self._read_at(pos, format.CHUNK_HEAD.size)
            if len(head) < format.CHUNK_HEAD.size:
                dropped = "an incomplete chunk head"
                break
            tag, k, first, nseg, plen, _, head_crc = format.CHUNK_HEAD.unpack(head)
            if tag == format.INDEX_TAG:
                n_chunks, n_eps = struct.unpack_from("<II", head, 4)
                index_len = (
                    format.INDEX_HEAD.size
                    + n_chunks * format.CHUNK_ENTRY_DTYPE.itemsize
                    + n_eps * format.EPISODE_DTYPE.itemsize
                )
                if pos + index_len + format.TRAILER.size == size:
                    raise ChecksumError(f"{name}: the trailer (last 24 bytes) is damaged")
                dropped = "an incomplete index"
                break
            j = len(offsets)
            where = f"chunk {j} at byte offset {pos}"
            if tag != format.CHUNK_TAG:
                raise ChecksumError(f"{name}: {where}: bad chunk tag {tag!r}")
            if not (1 <= nseg <= k <= format.MAX_CHUNK_STEPS) or plen > format.MAX_PAYLOAD:
                raise ChecksumError(f"{name}: {where}: implausible chunk head")
            seg_bytes = nseg * format.SEGMENT_DTYPE.itemsize
            segs_raw = self._read_at(pos + format.CHUNK_HEAD.size, seg_bytes)
            if len(segs_raw) < seg_bytes:
                dropped = "an incomplete chunk head"
                break
            if format.crc(head[:28], segs_raw) != head_crc:
                raise ChecksumError(f"{name}: checksum mismatch in the head of {where}")
            frame_len = format.CHUNK_HEAD.size + seg_bytes + plen
            if first != step:
                raise ChecksumError(f"{name}: {where} starts at step {first}, expected {step}")
            if pos + frame_len > size:
                dropped = f"an incomplete chunk of {k} steps"
                break
            segs = np.frombuffer(segs_raw, format.SEGMENT_DTYPE)
            self._add_segments(episodes, segs, step, k, where)
            offsets.append(pos)
            firsts.append(step)
            counts.append(k)
            lens.append(frame_len)
            pos += frame_len
            step += k
        self._set_chunks(offsets, firsts, counts, lens)
        self.episodes = [
            EpisodeInfo(i, e[0], e[1], e[2], e[3], e[4]) for i, e in enumerate(episodes)
        ]
        incomplete = sum(not e.complete for e in self.episodes)
        lost = f"; dropped {dropped} ({size - pos} bytes at byte offset {pos})" if dropped else ""
        self.truncated_tail = (
            f"{name}: no index (the writer did not finish); recovered {len(offsets)} complete "
            f"chunks ({step} steps, {len(episodes)} episodes, {incomplete} incomplete){lost}"
        )

    def _add_segments(self, episodes: list, segs: np.ndarray, step: int, k: int, where: str):
        if int(segs["count"].astype(np.int64).sum()) != k:
            raise ChecksumError(f"{self._name}: {where}: segments do not cover the chunk")
        for s in segs:
            e, count = int(s["episode"]), int(s["count"])
            if e == len(episodes) and int(s["t0"]) == 0:
                episodes.append([int(s["env"]), step, 0, 0.0, False])
            elif not (
                e == len(episodes) - 1
                and not episodes[-1][4]
                and episodes[-1][0] == int(s["env"])
                and episodes[-1][2] == int(s["t0"])
            ):
                raise ChecksumError(f"{self._name}: {where}: episode segments out of order")
            ep = episodes[-1]
            ep[2] += count
            ep[3] = float(s["ret"])
            ep[4] = bool(s["ends"])
            step += count

    # -- public API --------------------------------------------------------------------------
    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @property
    def num_chunks(self) -> int:
        return len(self._offsets)

    def chunk_ranges(self) -> list[tuple[int, int]]:
        """Global step range [start, stop) of each chunk."""
        return [(int(a), int(a + b)) for a, b in zip(self._first, self._nsteps, strict=True)]

    def read(self, start: int, stop: int) -> Steps:
        """Contiguous global steps ``[start, stop)``."""
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.num_steps:
            raise IndexError(f"{self._name}: steps [{start}, {stop}) outside 0..{self.num_steps}")
        if start == stop:
            return self._empty()
        j0 = int(np.searchsorted(self._first, start, side="right")) - 1
        j1 = int(np.searchsorted(self._first, stop - 1, side="right")) - 1
        parts = []
        for j in range(j0, j1 + 1):
            steps = self._chunk(j)
            a = max(start - self._first[j], 0)
            b = min(stop - self._first[j], len(steps))
            parts.append(steps[int(a) : int(b)])
        # copies: the caller may modify them without touching the cached chunk
        return parts[0].copy() if len(parts) == 1 else Steps.concat(parts)

    def step(self, k: int) -> Steps:
        """Global step ``k`` (a :class:`Steps` of length 1; negative ``k`` counts from the end)."""
        k = int(k)
        if k < 0:
            k += self.num_steps
        return self.read(k, k + 1)

    def episode(self, i: int) -> Steps:
        """All steps of episode ``i``."""
        ep = self.episodes[i]
        return self.read(ep.start, ep.stop)

    def iter_chunks(self, episode: int | None = None) -> Iterator[Steps]:
        """Steps chunk by chunk in global step order (only ``episode``'s steps if given)."""
        if episode is None:
            start, stop = 0, self.num_steps
        else:
            ep = self.episodes[episode]
            start, stop = ep.start, ep.stop
        for j in range(len(self._offsets)):
            a, b = int(self._first[j]), int(self._first[j] + self._nsteps[j])
            if b <= start or a >= stop:
                continue
            steps = self._chunk(j)
            yield steps[max(start - a, 0) : min(stop - a, b - a)].copy()

    def verify(self) -> None:
        """Decode every chunk (checksums included); raises the first problem found."""
        for j in range(len(self._offsets)):
            self._decode(j)

    def close(self) -> None:
        """Close the file (a file object passed in by the caller is left open)."""
        self._cache = None
        if self._owned:
            self._f.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.num_steps

    def __repr__(self) -> str:
        h = self.header
        return (
            f"<Recording {self._name}: {h.env_name}, {self.num_steps} steps, "
            f"{self.num_episodes} episodes, J {h.jac_dtype}>"
        )

    # -- chunks ----------------------------------------------------------------------------------
    def _chunk(self, j: int) -> Steps:
        if self._cache is not None and self._cache[0] == j:
            return self._cache[1]
        steps = self._decode(j)
        self._cache = (j, steps)
        return steps

    def _decode(self, j: int) -> Steps:
        name, h = self._name, self.header
        off, k, first = int(self._offsets[j]), int(self._nsteps[j]), int(self._first[j])
        where = f"chunk {j} (steps {first}..{first + k - 1}) at byte offset {off}"
        frame = self._read_at(off, int(self._frame_len[j]))
        if len(frame) < self._frame_len[j]:
            raise TruncatedError(f"{name}: file ends inside {where}")
        if len(frame) < format.CHUNK_HEAD.size:
            raise ChecksumError(f"{name}: {where} is shorter than a chunk head")
        tag, k2, first2, nseg, plen, pcrc, hcrc = format.CHUNK_HEAD.unpack_from(frame)
        seg_end = format.CHUNK_HEAD.size + nseg * format.SEGMENT_DTYPE.itemsize
        if (
            tag != format.CHUNK_TAG
            or seg_end + plen != len(frame)
            or format.crc(frame[:28], frame[format.CHUNK_HEAD.size : seg_end]) != hcrc
        ):
            raise ChecksumError(f"{name}: checksum mismatch in the head of {where}")
        if (k2, first2) != (k, first):
            raise ChecksumError(f"{name}: {where}: head does not match the index")
        payload = frame[seg_end:]
        if format.crc(payload) != pcrc:
            raise ChecksumError(f"{name}: checksum mismatch in {where}")
        expected = codec.raw_size(k, self._specs)
        try:
            raw = codec.decompress(payload, expected)
        except zstandard.ZstdError as exc:
            raise ChecksumError(f"{name}: {where} does not decompress ({exc})") from None
        if len(raw) != expected:
            raise ChecksumError(f"{name}: {where} holds {len(raw)} bytes, expected {expected}")
        cols = codec.decode_columns(raw, k, h.n, h.m, h.obs_dim, h.jac_dtype)
        segs = np.frombuffer(frame, format.SEGMENT_DTYPE, nseg, format.CHUNK_HEAD.size)
        counts = segs["count"].astype(np.int64)
        if counts.sum() != k:
            raise ChecksumError(f"{name}: {where}: segments do not cover the chunk")
        episode = np.repeat(segs["episode"].astype(np.int64), counts)
        offsets = np.repeat(np.cumsum(counts) - counts, counts)
        t = np.repeat(segs["t0"].astype(np.int64), counts) + np.arange(k) - offsets
        if h.jac_dtype == "float64":
            cols["zero_state"] = np.abs(cols["jac_state"]) < h.threshold
            cols["zero_action"] = np.abs(cols["jac_action"]) < h.threshold
        cols.pop("flags", None)
        return Steps(episode=episode, t=t, **cols)

    def _empty(self) -> Steps:
        h = self.header
        jd = np.float64 if h.jac_dtype == "float64" else np.float32
        return Steps(
            obs=np.zeros((0, h.obs_dim), np.float32),
            action=np.zeros((0, h.m)),
            reward=np.zeros(0),
            terminated=np.zeros(0, bool),
            truncated=np.zeros(0, bool),
            state=np.zeros((0, h.n)),
            next_state=np.zeros((0, h.n)),
            jac_state=np.zeros((0, h.n, h.n), jd),
            jac_action=np.zeros((0, h.n, h.m), jd),
            zero_state=np.zeros((0, h.n, h.n), bool),
            zero_action=np.zeros((0, h.n, h.m), bool),
            sparsity=np.zeros((0, 3)),
            finite=np.zeros(0, bool),
            episode=np.zeros(0, np.int64),
            t=np.zeros(0, np.int64),
        )


__all__ = ["Recording", "RecordingError", "open_recording"]
