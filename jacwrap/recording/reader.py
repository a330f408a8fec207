"""Lazy, random-access reader of ``.jwr`` recordings.

Opening reads the prefix, the header and (for a cleanly closed file) the index at the end;
chunks are decoded only when their steps are read, and the last decoded chunk is cached.
Without an index (the writer was killed) the chunk heads are scanned instead and the
incomplete tail is reported in :attr:`Recording.truncated_tail`. Every inconsistency raises
a :class:`RecordingError` subclass naming the file and what is wrong.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import zstandard

from jacwrap import schema
from jacwrap.recording import codec, format
from jacwrap.recording.errors import (
    ChecksumError,
    NotARecordingError,
    RecordingError,
    RecordingNotFoundError,
    TruncatedError,
    UnsupportedVersionError,
    over_limit,
)
from jacwrap.recording.header import FORMAT_VERSION, READABLE_VERSIONS, decode_header
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
        """Up to ``size`` bytes at ``offset``, never more than the file holds (a length read
        from the file cannot make this allocate more than the file's size)."""
        self._f.seek(offset)
        return self._f.read(max(0, min(size, self._size - offset)))

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
        if version not in READABLE_VERSIONS:
            newer = "a newer" if version > FORMAT_VERSION else "an unknown"
            raise UnsupportedVersionError(
                f"{name}: format version {version} ({newer} jacwrap); this reader reads "
                f"versions {', '.join(map(str, READABLE_VERSIONS))}"
            )
        if header_len > format.MAX_HEADER_LEN:
            limit = f"<= {format.MAX_HEADER_LEN}"
            raise over_limit(name, "file prefix", "header_len", header_len, limit)
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
        if self.header.format_version != version:
            raise NotARecordingError(
                f"{name}: the header says format version {self.header.format_version}, the "
                f"file prefix {version}"
            )
        if self.codec.get("name") != codec.CODEC_NAME or self.codec.get("compression") != "zstd":
            raise UnsupportedVersionError(f"{name}: unknown chunk codec {self.codec.get('name')!r}")
        h = self.header
        expected = codec.codec_description(h.blocks, 0)["columns"]
        if self.codec.get("columns") != expected:
            raise UnsupportedVersionError(
                f"{name}: the header's codec lists the blocks {self.codec.get('columns')!r}; a "
                f"version {version} recording of this kind has {expected!r}"
            )
        self._step_bytes = schema.raw_step_size(h.dims, h.jac_dtype, h.groups)  # <= ~20 MiB
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
        room = (offset - self._data_start) // format.MIN_FRAME_LEN
        if n_chunks > room:
            limit = f"0..{room} (chunks of at least {format.MIN_FRAME_LEN} bytes in the file)"
            raise over_limit(name, f"index at byte offset {offset}", "n_chunks", n_chunks, limit)
        pos = format.INDEX_HEAD.size
        chunks = np.frombuffer(index, format.CHUNK_ENTRY_DTYPE, n_chunks, pos)
        eps = np.frombuffer(index, format.EPISODE_DTYPE, n_eps, pos + n_chunks * ce)
        self._check_chunk_entries(chunks, offset)
        # bounded by the limits now: int64 sums cannot overflow
        steps = chunks["n_steps"].astype(np.int64)
        frame_len = chunks["frame_len"].astype(np.int64)
        ends = self._data_start + np.cumsum(frame_len)
        firsts = np.cumsum(steps) - steps
        ok = (
            np.array_equal(chunks["offset"], (ends - frame_len).astype(np.uint64))
            and np.array_equal(chunks["first_step"], firsts.astype(np.uint64))
            and int(steps.sum()) == num_steps
            and (int(ends[-1]) if n_chunks else self._data_start) == offset
            and self._episodes_consistent(eps, num_steps)
        )
        if not ok:
            raise ChecksumError(f"{name}: the index does not describe the file's chunks")
        self._set_chunks(ends - frame_len, firsts, steps, frame_len)
        self._set_episodes(eps["env"], eps["start"], eps["length"], eps["ret"], eps["complete"])

    def _check_chunk_entries(self, chunks: np.ndarray, offset: int) -> None:
        """Limits on the index's chunk entries (checked before any arithmetic on them)."""
        steps, frame_len = chunks["n_steps"], chunks["frame_len"]

        def refuse(bad: np.ndarray, what: str, value: np.ndarray, limit) -> None:
            j = int(np.flatnonzero(bad)[0])
            where = f"index at byte offset {offset}: chunk {j}"
            raise over_limit(self._name, where, what, int(value[j]), limit(j))

        bad = (steps < 1) | (steps > format.MAX_CHUNK_STEPS)
        if bad.any():
            refuse(bad, "n_steps", steps, lambda j: f"1..{format.MAX_CHUNK_STEPS}")
        k = steps.astype(np.int64)
        raw = k * self._step_bytes
        bad = raw > format.MAX_CHUNK_RAW
        if bad.any():
            what = f"the decompressed size (n_steps x {self._step_bytes} bytes)"
            refuse(bad, what, raw, lambda j: f"<= {format.MAX_CHUNK_RAW}")
        most = format.CHUNK_HEAD.size + k * format.SEGMENT_DTYPE.itemsize
        most = most + format.max_payload_len(raw)
        bad = (frame_len < format.MIN_FRAME_LEN) | (frame_len > most.astype(np.uint64))
        if bad.any():
            refuse(bad, "frame_len", frame_len, lambda j: f"{format.MIN_FRAME_LEN}..{most[j]}")

    @staticmethod
    def _episodes_consistent(eps: np.ndarray, num_steps: int) -> bool:
        """Episodes contiguous from step 0, each of at least one step, covering num_steps
        (in uint64: a sum that wrapped around would not increase)."""
        if len(eps) == 0:
            return num_steps == 0
        length = eps["length"]
        if not ((length >= 1) & (length <= num_steps)).all():
            return False
        stops = np.cumsum(length, dtype=np.uint64)
        return bool(
            (stops[1:] > stops[:-1]).all()
            and int(stops[-1]) == num_steps
            and eps["start"][0] == 0
            and np.array_equal(eps["start"][1:], stops[:-1])
            and np.isin(eps["complete"], (0, 1)).all()
        )

    def _set_episodes(self, env, start, length, ret, complete) -> None:
        """The episode table as arrays (for checking chunk segments) and ``episodes``."""
        self._ep_env = np.asarray(env, np.int64)
        self._ep_start = np.asarray(start, np.int64)
        self._ep_len = np.asarray(length, np.int64)
        self._ep_ret = np.asarray(ret, np.float64)
        self._ep_complete = np.asarray(complete, bool)
        self.episodes = [
            EpisodeInfo(i, *row)
            for i, row in enumerate(
                zip(
                    self._ep_env.tolist(),
                    self._ep_start.tolist(),
                    self._ep_len.tolist(),
                    self._ep_ret.tolist(),
                    self._ep_complete.tolist(),
                    strict=True,
                )
            )
        ]

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
        episodes: list[format.EpisodeRow] = []
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
            self._check_head(k, nseg, plen, where)
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
        cols = [
            [getattr(e, f.name) for e in episodes] for f in dataclasses.fields(format.EpisodeRow)
        ]
        self._set_episodes(*cols)
        incomplete = sum(not e.complete for e in self.episodes)
        lost = f"; dropped {dropped} ({size - pos} bytes at byte offset {pos})" if dropped else ""
        self.truncated_tail = (
            f"{name}: no index (the writer did not finish); recovered {len(offsets)} complete "
            f"chunks ({step} steps, {len(episodes)} episodes, {incomplete} incomplete){lost}"
        )

    def _check_head(self, k: int, nseg: int, plen: int, where: str) -> None:
        """Limits on a chunk head's sizes (before reading what they size)."""
        if not 1 <= k <= format.MAX_CHUNK_STEPS:
            raise over_limit(self._name, where, "n_steps", k, f"1..{format.MAX_CHUNK_STEPS}")
        if not 1 <= nseg <= k:
            raise over_limit(self._name, where, "n_segments", nseg, f"1..{k} (its n_steps)")
        raw = k * self._step_bytes
        if raw > format.MAX_CHUNK_RAW:
            what = f"the decompressed size ({k} steps x {self._step_bytes} bytes)"
            raise over_limit(self._name, where, what, raw, f"<= {format.MAX_CHUNK_RAW}")
        most = int(format.max_payload_len(raw))
        if not format.MIN_PAYLOAD_LEN <= plen <= most:
            limit = f"{format.MIN_PAYLOAD_LEN}..{most} (zstd's bound for {raw} bytes)"
            raise over_limit(self._name, where, "payload_len", plen, limit)

    def _add_segments(self, episodes: list, segs: np.ndarray, step: int, k: int, where: str):
        counts = segs["count"].astype(np.int64)
        if (counts < 1).any() or int(counts.sum()) != k:
            raise ChecksumError(f"{self._name}: {where}: segments do not cover the chunk")
        for s in segs:
            e, count = int(s["episode"]), int(s["count"])
            if e == len(episodes) and int(s["t0"]) == 0:
                episodes.append(format.EpisodeRow(int(s["env"]), step))
            elif not (
                e == len(episodes) - 1
                and not episodes[-1].complete
                and episodes[-1].env == int(s["env"])
                and episodes[-1].length == int(s["t0"])
            ):
                raise ChecksumError(f"{self._name}: {where}: episode segments out of order")
            ep = episodes[-1]
            ep.length += count
            ep.ret = float(s["ret"])
            ep.complete = bool(s["ends"])
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
            h = self.header
            return Steps.empty(h.dims, h.jac_dtype, h.groups)
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
        self._check_head(k, nseg, plen, where)
        payload = frame[seg_end:]
        if format.crc(payload) != pcrc:
            raise ChecksumError(f"{name}: checksum mismatch in {where}")
        segs = np.frombuffer(frame, format.SEGMENT_DTYPE, nseg, format.CHUNK_HEAD.size)
        episode, t = self._segment_steps(segs, first, k, where)
        expected = k * self._step_bytes
        declared = codec.declared_size(payload)
        if declared != expected:  # zstandard would allocate whatever the frame declares
            raise ChecksumError(
                f"{name}: {where}: its zstd frame declares a content size of {declared} "
                f"bytes; the header and the chunk head imply {expected}"
            )
        try:
            raw = codec.decompress(payload, expected)
        except zstandard.ZstdError as exc:
            raise ChecksumError(f"{name}: {where} does not decompress ({exc})") from None
        if len(raw) != expected:
            raise ChecksumError(f"{name}: {where} holds {len(raw)} bytes, expected {expected}")
        cols = codec.decode_columns(raw, k, h.blocks, h.dims, h.jac_dtype)
        if h.jac_dtype == "float64":
            cols["zero_state"] = np.abs(cols["jac_state"]) < h.threshold
            cols["zero_action"] = np.abs(cols["jac_action"]) < h.threshold
        return Steps(episode=episode, t=t, **cols)

    def _segment_steps(
        self, segs: np.ndarray, first: int, k: int, where: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Episode and step-within-episode of each of a chunk's steps, from its segment table,
        which must agree with the episode list (index or scan) in every field."""
        name = self._name
        counts = segs["count"].astype(np.int64)
        if (counts < 1).any() or int(counts.sum()) != k:
            raise ChecksumError(f"{name}: {where}: segments do not cover the chunk")
        seg_first = first + np.cumsum(counts) - counts  # global step of each segment's first
        if (segs["episode"] >= len(self._ep_start)).any():
            raise ChecksumError(f"{name}: {where}: a segment names an episode past the last")
        e = segs["episode"].astype(np.int64)
        t0 = seg_first - self._ep_start[e]
        stop = t0 + counts
        last = stop == self._ep_len[e]
        ok = (
            (t0 >= 0)
            & (segs["t0"] == t0.astype(np.uint64))
            & (stop <= self._ep_len[e])
            & (segs["env"] == self._ep_env[e])
            & (segs["ends"] == (last & self._ep_complete[e]))
            & (~last | (segs["ret"].view(np.uint64) == self._ep_ret[e].view(np.uint64)))
        )
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise ChecksumError(
                f"{name}: {where}: segment {i} does not agree with episode {int(e[i])} of the "
                "episode list (its steps, env, end or return)"
            )
        episode = np.repeat(e, counts)
        t = np.repeat(t0, counts) + np.arange(k) - np.repeat(seg_first - first, counts)
        return episode, t


__all__ = ["Recording", "RecordingError", "open_recording"]
