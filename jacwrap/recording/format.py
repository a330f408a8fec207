"""Binary layout of a ``.jwr`` file: prefix, header, chunk frames, index, trailer.

Pure functions over bytes; the reader and writer are the only stateful parts. The layout
is specified in docs/FORMAT.md (all integers little-endian, checksums CRC-32 as in zlib).

::

    prefix   magic(8) version u32 header_len u32 prefix_crc u32     (20 bytes, fixed forever)
    header   JSON (header_len bytes) header_crc u32
    chunk*   head(32) segments(33 * n_segments) payload(payload_len)
    index    head(24) chunk table(32 * n_chunks) episode table(29 * n_episodes)   (clean close)
    trailer  index_offset u64 index_len u32 index_crc u32 end_magic(8)        (24 bytes)
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC = b"\x89JWR\r\n\x1a\n"
END_MAGIC = b"JWR-END\n"
CHUNK_TAG = b"JWRC"
INDEX_TAG = b"JWRI"

PREFIX = struct.Struct("<8sIII")  # magic, version, header_len, prefix_crc (of bytes 0..16)
CHUNK_HEAD = struct.Struct("<4sIQIIII")  # tag, n_steps, first_step, n_segments, payload_len,
#                                          payload_crc, head_crc (of bytes 0..28 + segments)
INDEX_HEAD = struct.Struct("<4sIIIQ")  # tag, n_chunks, n_episodes, reserved (0), num_steps
TRAILER = struct.Struct("<QII8s")  # index_offset, index_len, index_crc, END_MAGIC

# -- limits (docs/FORMAT.md, "Limits"): the reader checks each before it allocates anything of
# that size, and the writer refuses to write past them (both raise ``LimitError``).
MAX_HEADER_LEN = 1 << 20  # header JSON bytes
MAX_STATE_DIM = 1024  # n = nq + nv (and so nq, nv)
MAX_ACTION_DIM = 1024  # m = nu
MAX_OBS_DIM = 1 << 20  # obs_dim
MAX_CONTACT_PAIRS = 1 << 16  # len(contact_pairs), the bits of a contact mask
MAX_CHUNK_STEPS = 1 << 16  # steps per chunk; segments per chunk are at most its steps
MAX_CHUNK_RAW = 64 << 20  # decompressed bytes per chunk

#: One run of consecutive steps of one episode inside a chunk.
SEGMENT_DTYPE = np.dtype(
    [
        ("episode", "<u8"),  # episode index (global, in order of first step)
        ("env", "<u4"),  # env index within the batch that produced it
        ("t0", "<u8"),  # step within the episode of the segment's first step
        ("count", "<u4"),  # number of steps
        ("ends", "u1"),  # 1 if the episode's last step is the segment's last step
        ("ret", "<f8"),  # the episode's return up to the segment's last step
    ]
)
CHUNK_ENTRY_DTYPE = np.dtype(
    [("offset", "<u8"), ("first_step", "<u8"), ("n_steps", "<u8"), ("frame_len", "<u8")]
)
EPISODE_DTYPE = np.dtype(
    [("env", "<u4"), ("start", "<u8"), ("length", "<u8"), ("ret", "<f8"), ("complete", "u1")]
)


@dataclass
class EpisodeRow:
    """One row of the episode table (:data:`EPISODE_DTYPE`), filled step by step: by the
    writer as it writes, by the reader's recovery scan from the chunks' segments."""

    env: int
    start: int
    length: int = 0
    ret: float = 0.0
    complete: bool = False


def table(rows: list, dtype: np.dtype) -> np.ndarray:
    """A structured array of ``dtype`` from objects with one attribute per field."""
    out = np.zeros(len(rows), dtype)
    for name in dtype.names:
        out[name] = [getattr(r, name) for r in rows]
    return out


#: Smallest chunk frame: head, one segment, and a zstd frame of at least a frame header
#: (6 bytes) and one block header (3 bytes); bounds the number of chunks a file can hold.
MIN_PAYLOAD_LEN = 9
MIN_FRAME_LEN = CHUNK_HEAD.size + SEGMENT_DTYPE.itemsize + MIN_PAYLOAD_LEN


def max_payload_len(raw_size):
    """Largest zstd frame for ``raw_size`` bytes of content (an int or an int64 array):
    zstd's ``ZSTD_compressBound``, what any level may produce in the worst case, frame
    header included."""
    small = np.maximum((128 << 10) - raw_size, 0) >> 11
    return raw_size + (raw_size >> 8) + small


def crc(*parts: bytes) -> int:
    """CRC-32 (zlib) of the concatenation of ``parts``."""
    value = 0
    for p in parts:
        value = zlib.crc32(p, value)
    return value & 0xFFFFFFFF


def pack_prefix(version: int, header_len: int) -> bytes:
    body = PREFIX.pack(MAGIC, version, header_len, 0)[:16]
    return body + struct.pack("<I", crc(body))


def pack_chunk_head(n_steps: int, first_step: int, segments: np.ndarray, payload: bytes) -> bytes:
    """Head + segment table of a chunk frame (the payload follows it)."""
    seg = np.ascontiguousarray(segments, dtype=SEGMENT_DTYPE).tobytes()
    head = CHUNK_HEAD.pack(
        CHUNK_TAG, n_steps, first_step, len(segments), len(payload), crc(payload), 0
    )[:28]
    return head + struct.pack("<I", crc(head, seg)) + seg


def pack_index(chunks: np.ndarray, episodes: np.ndarray, num_steps: int) -> bytes:
    head = INDEX_HEAD.pack(INDEX_TAG, len(chunks), len(episodes), 0, num_steps)
    return (
        head
        + np.ascontiguousarray(chunks, dtype=CHUNK_ENTRY_DTYPE).tobytes()
        + np.ascontiguousarray(episodes, dtype=EPISODE_DTYPE).tobytes()
    )


def pack_trailer(index_offset: int, index: bytes) -> bytes:
    return TRAILER.pack(index_offset, len(index), crc(index), END_MAGIC)
