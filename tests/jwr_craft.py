"""Craft `.jwr` files part by part, for the hostile-input tests (tests/test_recording_hostile.py).

:func:`parse` splits a valid file into its parts: prefix fields, header JSON, chunks (head
fields, segment table, zstd payload), index tables and trailer. A test changes one field,
and :func:`build` serialises the parts again with every length, offset and checksum
recomputed, except the fields the test set explicitly. A crafted file thus passes every
checksum, and only the reader's limits and consistency checks stand between it and the
field's hostile value. :func:`set_content_size` rewrites the content size a zstd frame
declares; :func:`rle_frame` builds a valid frame of any declared size from a few bytes (a
decompression bomb).

The layout is written out here from docs/FORMAT.md, independently of
``jacwrap/recording/format.py``, so that the helper also checks the spec against the code.
"""

from __future__ import annotations

import copy
import json
import math
import struct
import zlib
from dataclasses import dataclass, field, replace

import numpy as np

MAGIC = b"\x89JWR\r\n\x1a\n"
END_MAGIC = b"JWR-END\n"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PREFIX = struct.Struct("<8sIII")
CHUNK_HEAD = struct.Struct("<4sIQIIII")
INDEX_HEAD = struct.Struct("<4sIIIQ")
TRAILER = struct.Struct("<QII8s")
SEGMENT = np.dtype(
    [("episode", "<u8"), ("env", "<u4"), ("t0", "<u8"), ("count", "<u4"), ("ends", "u1"),
     ("ret", "<f8")]
)  # fmt: skip
CHUNK_ENTRY = np.dtype(
    [("offset", "<u8"), ("first_step", "<u8"), ("n_steps", "<u8"), ("frame_len", "<u8")]
)
EPISODE = np.dtype(
    [("env", "<u4"), ("start", "<u8"), ("length", "<u8"), ("ret", "<f8"), ("complete", "u1")]
)


def crc(*parts: bytes) -> int:
    value = 0
    for p in parts:
        value = zlib.crc32(p, value)
    return value


@dataclass(frozen=True)
class Raw:
    """A header value given as literal JSON text (e.g. a 5000-digit number, ``NaN``)."""

    text: str


@dataclass
class Chunk:
    """One chunk frame; ``n_segments``/``payload_len`` None: the true counts."""

    n_steps: int
    first_step: int
    segments: np.ndarray
    payload: bytes
    n_segments: int | None = None
    payload_len: int | None = None


@dataclass
class Index:
    """The index and trailer; each None field is derived from the chunks as written."""

    episodes: np.ndarray
    table: np.ndarray | None = None
    n_chunks: int | None = None
    n_episodes: int | None = None
    reserved: int = 0
    num_steps: int | None = None
    index_offset: int | None = None
    index_len: int | None = None


@dataclass
class Parts:
    header: dict
    chunks: list[Chunk]
    index: Index | None  # None: no index or trailer (a writer that was killed)
    version: int = 1
    header_len: int | None = None
    tail: bytes = b""  # bytes appended after everything else
    notes: list[str] = field(default_factory=list)

    def copy(self) -> Parts:
        return copy.deepcopy(self)


def header_bytes(header: dict) -> bytes:
    """The header JSON as the writer writes it (``Raw`` values spliced in as text)."""
    raws: dict[str, str] = {}

    def swap(v):
        if isinstance(v, Raw):
            key = f"__raw_{len(raws)}__"
            raws[key] = v.text
            return key
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(header), sort_keys=True, allow_nan=False)
    for key, raw in raws.items():
        text = text.replace(f'"{key}"', raw)
    return text.encode("utf-8")


def chunk_frame(c: Chunk) -> bytes:
    seg = np.ascontiguousarray(c.segments, SEGMENT).tobytes()
    nseg = len(c.segments) if c.n_segments is None else c.n_segments
    plen = len(c.payload) if c.payload_len is None else c.payload_len
    head = CHUNK_HEAD.pack(b"JWRC", c.n_steps, c.first_step, nseg, plen, crc(c.payload), 0)
    head = head[:28] + struct.pack("<I", crc(head[:28], seg))
    return head + seg + c.payload


def _front(p: Parts) -> bytes:
    hjson = header_bytes(p.header)
    hlen = len(hjson) if p.header_len is None else p.header_len
    body = PREFIX.pack(MAGIC, p.version, hlen, 0)[:16]
    return body + struct.pack("<I", crc(body)) + hjson + struct.pack("<I", crc(hjson))


def chunk_table(p: Parts) -> np.ndarray:
    """The index's chunk table that describes ``p``'s chunks as :func:`build` writes them."""
    pos = len(_front(p))
    table = np.zeros(len(p.chunks), CHUNK_ENTRY)
    for j, c in enumerate(p.chunks):
        n = len(chunk_frame(c))
        table[j] = (pos, c.first_step, c.n_steps, n)
        pos += n
    return table


def build(p: Parts) -> bytes:
    """The file's bytes, every length, offset and checksum recomputed (unless set)."""
    out = bytearray(_front(p))
    for c in p.chunks:
        out += chunk_frame(c)
    if p.index is not None:
        ix = p.index
        table = chunk_table(p) if ix.table is None else ix.table
        steps = sum(c.n_steps for c in p.chunks) if ix.num_steps is None else ix.num_steps
        head = INDEX_HEAD.pack(
            b"JWRI",
            len(table) if ix.n_chunks is None else ix.n_chunks,
            len(ix.episodes) if ix.n_episodes is None else ix.n_episodes,
            ix.reserved,
            steps,
        )
        index = head + table.astype(CHUNK_ENTRY).tobytes() + ix.episodes.astype(EPISODE).tobytes()
        offset = len(out) if ix.index_offset is None else ix.index_offset
        length = len(index) if ix.index_len is None else ix.index_len
        out += index + TRAILER.pack(offset, length, crc(index), END_MAGIC)
    return bytes(out + p.tail)


def parse(data: bytes) -> Parts:
    """Parts of a valid file (``build(parse(data)) == data``)."""
    magic, version, hlen, _ = PREFIX.unpack_from(data)
    assert magic == MAGIC
    header = json.loads(data[20 : 20 + hlen])
    pos = 20 + hlen + 4
    chunks = []
    while pos < len(data) and data[pos : pos + 4] == b"JWRC":
        _, k, first, nseg, plen, _, _ = CHUNK_HEAD.unpack_from(data, pos)
        seg_end = pos + CHUNK_HEAD.size + nseg * SEGMENT.itemsize
        segs = np.frombuffer(data, SEGMENT, nseg, pos + CHUNK_HEAD.size).copy()
        chunks.append(Chunk(k, first, segs, data[seg_end : seg_end + plen]))
        pos = seg_end + plen
    index = None
    if pos < len(data):
        _, n_chunks, n_eps, _, _ = INDEX_HEAD.unpack_from(data, pos)
        start = pos + INDEX_HEAD.size + n_chunks * CHUNK_ENTRY.itemsize
        index = Index(episodes=np.frombuffer(data, EPISODE, n_eps, start).copy())
    return Parts(header, chunks, index, version)


def without_index(p: Parts) -> Parts:
    return replace(p.copy(), index=None)


# -- sizes (docs/FORMAT.md, "Payload") -------------------------------------------------------------
def raw_size(header: dict, k: int) -> int:
    """Decompressed payload bytes of a chunk of ``k`` steps under ``header``'s dims."""
    n, m, obs = header["nq"] + header["nv"], header["nu"], header["obs_dim"]
    w = 8 if header["jac_dtype"] == "float64" else 4
    masks = math.ceil(n * (n + m) / 8) if header["jac_dtype"] == "float32" else 0
    return k * (4 * obs + 8 * m + 8 + 1 + 16 * n + w * (n * n + n * m) + 24 + masks)


# -- zstd frames (RFC 8878, section 3.1.1) --------------------------------------------------------
def _frame_header(frame: bytes) -> tuple[int, bool, bytes, bytes, int]:
    """(end of the frame header, single segment, window descriptor, dictionary id bytes,
    declared content size or -1)."""
    assert frame[:4] == ZSTD_MAGIC
    fhd = frame[4]
    fcs_flag, single, did_flag = fhd >> 6, bool(fhd >> 5 & 1), fhd & 3
    pos = 5
    wd = b"" if single else frame[pos : pos + 1]
    pos += len(wd)
    did_len = (0, 1, 2, 4)[did_flag]
    did = frame[pos : pos + did_len]
    pos += did_len
    fcs_len = (1 if single else 0, 2, 4, 8)[fcs_flag]
    raw = frame[pos : pos + fcs_len]
    fcs = -1 if not fcs_len else int.from_bytes(raw, "little") + (256 if fcs_len == 2 else 0)
    return pos + fcs_len, single, wd, did, fcs


def content_size(frame: bytes) -> int:
    return _frame_header(frame)[4]


def set_content_size(frame: bytes, size: int | None) -> bytes:
    """``frame`` declaring ``size`` bytes of content (8-byte field), or none (``None``)."""
    end, single, wd, did, fcs = _frame_header(frame)
    did_flag = {0: 0, 1: 1, 2: 2, 4: 3}[len(did)]
    checksum = frame[4] & 4
    if size is None:
        if single:  # a window descriptor must replace the single-segment window
            log = max(10, math.ceil(math.log2(max(fcs, 1))))
            wd = bytes([(log - 10) << 3])
        return ZSTD_MAGIC + bytes([checksum | did_flag]) + wd + did + frame[end:]
    fhd = 3 << 6 | (32 if single else 0) | checksum | did_flag
    size = min(size, (1 << 64) - 1)  # the widest the field holds
    return ZSTD_MAGIC + bytes([fhd]) + wd + did + struct.pack("<Q", size) + frame[end:]


def rle_frame(size: int, byte: int = 0) -> bytes:
    """A valid zstd frame of ``size`` copies of ``byte`` in RLE blocks of 128 KiB (4 bytes
    each): a few bytes that decompress to any size."""
    out = bytearray(ZSTD_MAGIC + bytes([3 << 6 | 32]) + struct.pack("<Q", size))
    block = 128 << 10
    left = size
    while True:
        n = min(left, block)
        left -= n
        last = int(left == 0)
        out += (last | 1 << 1 | n << 3).to_bytes(3, "little") + bytes([byte])
        if last:
            return bytes(out)


def skippable_frame(data: bytes = b"skip") -> bytes:
    return b"\x50\x2a\x4d\x18" + struct.pack("<I", len(data)) + data
