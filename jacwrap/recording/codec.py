"""Chunk payload codec: per-column transforms (XOR-delta, byte shuffle, bit packing) + zstd.

A chunk of k steps is stored as one zstd frame of column blocks in a fixed order (the
blocks the header's ``codec`` lists, :data:`jacwrap.schema.BLOCKS`, docs/FORMAT.md). Every block's size follows from k and the header
dimensions, so the payload carries no per-column lengths. The transforms are lossless:

- *byte shuffle*: the i-th bytes of all values of a column are stored together (floats of
  similar magnitude share sign/exponent bytes, which then compress).
- *XOR-delta*: each step's value bits XOR the previous step's (first step kept); slowly
  changing values leave leading zero bits, and unchanged ones (structural zeros) all-zero.
- *element-major* (``T``): the (k, E) block is transposed so that each element's k values
  are adjacent before the byte shuffle.
- ``state`` is XOR-ed with the previous step's ``next_state`` (equal within an episode).
- *flags* (a ``raw`` block of bool fields): ``terminated``, ``truncated`` and ``finite`` are
  bits 0, 1, 2 of one byte per step.
- *packbits*: bool fields as packed bits (XOR-delta): the float64 zero masks of
  [J_s | J_a] in float32 recordings, the contact masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zstandard

from jacwrap import schema
from jacwrap.schema import Block, Dims

CODEC_NAME = "jwr-columns-1"
DEFAULT_LEVEL = 1  # chosen for write speed (docs/FORMAT.md, BENCHMARKS.md)

#: The transforms a block may name (``schema.BLOCKS``; docs/FORMAT.md).
TRANSFORMS = (
    "raw",
    "shuffle",
    "T+shuffle",
    "xor-delta+T+shuffle",
    "xor-prev-next_state+shuffle",
    "packbits+xor-delta",
)


def _is_flags(b: Block) -> bool:
    """A ``raw`` block of bool fields: one byte per step, bit j = field j."""
    return b.transform == "raw" and schema.FIELD_BY_NAME[b.fields[0]].dtype == bool


def codec_description(blocks: tuple[Block, ...], level: int) -> dict[str, Any]:
    """The header's ``codec`` object: the payload's blocks in order, with their transforms."""
    cols = [{"name": b.name, "transform": b.transform} for b in blocks]
    return {"name": CODEC_NAME, "compression": "zstd", "level": level, "columns": cols}


def block_specs(
    blocks: tuple[Block, ...], dims: Dims, jac_dtype: str
) -> list[tuple[str, tuple, str]]:
    """(name, stored per-step shape, stored dtype) of each block, in payload order."""
    return [(b.name, b.shape(dims), b.dtype(jac_dtype)) for b in blocks]


def raw_size(k: int, specs: list[tuple[str, tuple, str]]) -> int:
    return sum(
        k * int(np.prod(shape, dtype=np.int64)) * np.dtype(dt).itemsize for _, shape, dt in specs
    )


# -- transforms (pure, lossless) -------------------------------------------------------------
def _uint_view(a: np.ndarray) -> np.ndarray:
    return a.view(np.dtype(f"<u{a.dtype.itemsize}"))


def xor_delta(a: np.ndarray) -> np.ndarray:
    """Bits of each row XOR the previous row's (row 0 kept), as unsigned integers."""
    u = _uint_view(np.ascontiguousarray(a))
    d = u.copy()
    d[1:] ^= u[:-1]
    return d


def xor_undelta(d: np.ndarray) -> np.ndarray:
    return np.bitwise_xor.accumulate(d, axis=0)


def shuffle(a: np.ndarray) -> bytes:
    """Byte planes of a fixed-width array: byte i of every value, then byte i + 1, ..."""
    a = np.ascontiguousarray(a)
    return a.view(np.uint8).reshape(-1, a.dtype.itemsize).T.tobytes()


def unshuffle(buf: bytes | memoryview, dtype: np.dtype, shape: tuple) -> np.ndarray:
    itemsize = np.dtype(dtype).itemsize
    planes = np.frombuffer(buf, np.uint8).reshape(itemsize, -1)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(shape)


def pack_flags(*bits: np.ndarray) -> np.ndarray:
    """One byte per step: bit j is ``bits[j]`` (at most 8)."""
    out = np.zeros(np.shape(bits[0]), np.uint8)
    for j, b in enumerate(bits):
        out |= np.asarray(b, bool).astype(np.uint8) << j
    return out


def _elem_major(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.reshape(a.shape[0], -1).T)


def _from_elem_major(a: np.ndarray, shape: tuple) -> np.ndarray:
    return np.ascontiguousarray(a.reshape(-1, shape[0]).T).reshape(shape)


def _encode_block(b: Block, cols: dict[str, np.ndarray], dt: str) -> bytes:
    k = cols["reward"].shape[0]
    if _is_flags(b):
        return pack_flags(*(cols[f] for f in b.fields)).tobytes()
    if b.transform == "packbits+xor-delta":
        bits = np.concatenate([np.asarray(cols[f], bool).reshape(k, -1) for f in b.fields], 1)
        return xor_delta(np.packbits(bits, axis=1)).tobytes()
    (a,) = (np.ascontiguousarray(cols[f], dt) for f in b.fields)
    if b.transform == "raw":
        return a.tobytes()
    if b.transform == "shuffle":
        return shuffle(a)
    if b.transform == "T+shuffle":
        return shuffle(_elem_major(a))
    if b.transform == "xor-delta+T+shuffle":
        return shuffle(_elem_major(xor_delta(a)))
    if b.transform == "xor-prev-next_state+shuffle":  # equal within an episode
        u = _uint_view(a).copy()
        u[1:] ^= _uint_view(np.ascontiguousarray(cols["next_state"], dt))[:-1]
        return shuffle(u)
    raise ValueError(f"unknown transform {b.transform!r}")


def _decode_block(
    b: Block, block: memoryview, full: tuple, dt: str, dims: Dims, out: dict[str, np.ndarray]
) -> None:
    k = full[0]
    if _is_flags(b):
        flags = np.frombuffer(block, np.uint8)
        for j, f in enumerate(b.fields):
            out[f] = (flags & (1 << j)).astype(bool)
        return
    if b.transform == "packbits+xor-delta":
        packed = xor_undelta(np.frombuffer(block, np.uint8).reshape(full))
        shapes = [schema.FIELD_BY_NAME[f].shape(dims) for f in b.fields]
        sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
        bits = np.unpackbits(packed, axis=1, count=sum(sizes)).astype(bool)
        pos = 0
        for f, shape, size in zip(b.fields, shapes, sizes, strict=True):
            out[f] = bits[:, pos : pos + size].reshape(k, *shape)
            pos += size
        return
    (name,) = b.fields
    if b.transform == "raw":
        out[name] = np.frombuffer(block, dt).reshape(full).copy()
    elif b.transform == "xor-delta+T+shuffle":
        u = _from_elem_major(unshuffle(block, np.dtype(dt.replace("f", "u")), (-1,)), full)
        out[name] = xor_undelta(u).view(dt)
    elif b.transform == "T+shuffle":
        out[name] = _from_elem_major(unshuffle(block, np.dtype(dt), (-1,)), full)
    elif b.transform in ("shuffle", "xor-prev-next_state+shuffle"):  # state: un-XOR-ed later
        out[name] = unshuffle(block, np.dtype(dt), full)
    else:
        raise ValueError(f"unknown transform {b.transform!r}")


# -- chunk payload ------------------------------------------------------------------------------
def encode_columns(cols: dict[str, np.ndarray], blocks: tuple[Block, ...], jac_dtype: str) -> bytes:
    """Raw (uncompressed) payload of k steps: each block of ``blocks`` from ``cols`` (the
    fields by name, in the stored dtypes already; float32 recordings with the zero masks)."""
    return b"".join(_encode_block(b, cols, b.dtype(jac_dtype)) for b in blocks)


def decode_columns(
    raw: bytes, k: int, blocks: tuple[Block, ...], dims: Dims, jac_dtype: str
) -> dict[str, np.ndarray]:
    """Inverse of :func:`encode_columns` (``raw`` must have the size the blocks imply)."""
    out: dict[str, np.ndarray] = {}
    pos = 0
    view = memoryview(raw)
    for b in blocks:
        dt = b.dtype(jac_dtype)
        full = (k, *b.shape(dims))
        size = k * int(np.prod(full[1:], dtype=np.int64)) * np.dtype(dt).itemsize
        _decode_block(b, view[pos : pos + size], full, dt, dims, out)
        pos += size
    for b in blocks:
        if b.transform == "xor-prev-next_state+shuffle":
            (name,) = b.fields
            u = _uint_view(out[name]).copy()
            u[1:] ^= _uint_view(out["next_state"])[:-1]
            out[name] = u.view(b.dtype(jac_dtype))
    return out


def compressor(level: int) -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=level, write_content_size=True)


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def declared_size(payload: bytes) -> int | None:
    """The content size declared in the header of ``payload``'s zstd frame, read without
    decompressing; None when it declares none or is no zstd frame (e.g. a skippable one)."""
    if payload[:4] != ZSTD_MAGIC:
        return None
    try:
        size = zstandard.get_frame_parameters(payload).content_size
    except zstandard.ZstdError:
        return None
    return None if size in (zstandard.CONTENTSIZE_UNKNOWN, zstandard.CONTENTSIZE_ERROR) else size


def decompress(payload: bytes, expected: int) -> bytes:
    """Decompress one zstd frame of ``expected`` bytes and nothing after it (raises
    ``zstandard.ZstdError`` if corrupt). zstandard allocates the size the frame declares,
    whatever ``max_output_size`` says: check :func:`declared_size` first."""
    dctx = zstandard.ZstdDecompressor()
    return dctx.decompress(payload, max_output_size=expected, allow_extra_data=False)
