"""Chunk payload codec: per-column transforms (XOR-delta, byte shuffle, bit packing) + zstd.

A chunk of k steps is stored as one zstd frame of column blocks in a fixed order (see
:data:`COLUMNS` and docs/FORMAT.md). Every block's size follows from k and the header
dimensions, so the payload carries no per-column lengths. The transforms are lossless:

- *byte shuffle*: the i-th bytes of all values of a column are stored together (floats of
  similar magnitude share sign/exponent bytes, which then compress).
- *XOR-delta*: each step's value bits XOR the previous step's (first step kept); slowly
  changing values leave leading zero bits, and unchanged ones (structural zeros) all-zero.
- *element-major* (``T``): the (k, E) block is transposed so that each element's k values
  are adjacent before the byte shuffle.
- ``state`` is XOR-ed with the previous step's ``next_state`` (equal within an episode).
- ``terminated``, ``truncated`` and ``finite`` are bits 0, 1, 2 of one flag byte per step.
- float32 recordings add the float64 zero masks of [J_s | J_a] as packed bits (XOR-delta).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zstandard

from jacwrap.recording import schema

CODEC_NAME = "jwr-columns-1"
DEFAULT_LEVEL = 1  # chosen for write speed (docs/FORMAT.md, BENCHMARKS.md)

#: (name, transform) in payload order (:data:`jacwrap.recording.schema.COLUMNS`).
COLUMNS = tuple((c.name, c.transform) for c in schema.COLUMNS)
TRANSFORMS = dict(COLUMNS)


def codec_description(jac_dtype: str, level: int) -> dict[str, Any]:
    """The header's ``codec`` object."""
    cols = [
        {"name": n, "transform": t}
        for n, t in COLUMNS
        if n != "zero_masks" or jac_dtype == "float32"
    ]
    return {"name": CODEC_NAME, "compression": "zstd", "level": level, "columns": cols}


def column_specs(n: int, m: int, obs_dim: int, jac_dtype: str) -> list[tuple[str, tuple, str]]:
    """(name, per-step shape, dtype) of every stored column, in payload order."""
    return schema.column_specs(schema.Dims(n, m, obs_dim), jac_dtype)


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


def pack_flags(terminated, truncated, finite) -> np.ndarray:
    """One byte per step, bits :data:`jacwrap.recording.schema.FLAG_BITS`."""
    values = {"terminated": terminated, "truncated": truncated, "finite": finite}
    out = np.zeros(np.shape(terminated), np.uint8)
    for name, bit in schema.FLAG_BITS.items():
        out |= np.asarray(values[name], bool).astype(np.uint8) << bit
    return out


# -- chunk payload ------------------------------------------------------------------------------
def encode_columns(cols: dict[str, np.ndarray], jac_dtype: str) -> bytes:
    """Raw (uncompressed) payload of k steps. ``cols`` holds the stored dtypes already:
    obs, action, reward, terminated, truncated, finite, state, next_state, jac_state,
    jac_action, sparsity, and for float32 ``zero_state``/``zero_action`` (bool)."""
    k = cols["reward"].shape[0]
    flags = pack_flags(cols["terminated"], cols["truncated"], cols["finite"])
    state = _uint_view(np.ascontiguousarray(cols["state"])).copy()
    state[1:] ^= _uint_view(np.ascontiguousarray(cols["next_state"]))[:-1]
    parts = [
        shuffle(_elem_major(cols["obs"])),
        shuffle(cols["action"]),
        np.ascontiguousarray(cols["reward"], "<f8").tobytes(),
        flags.tobytes(),
        shuffle(state),
        shuffle(_elem_major(cols["next_state"])),
        shuffle(_elem_major(xor_delta(cols["jac_state"]))),
        shuffle(_elem_major(xor_delta(cols["jac_action"]))),
        np.ascontiguousarray(cols["sparsity"], "<f8").tobytes(),
    ]
    if jac_dtype == "float32":
        masks = np.concatenate(
            [cols["zero_state"].reshape(k, -1), cols["zero_action"].reshape(k, -1)], axis=1
        )
        parts.append(xor_delta(np.packbits(masks, axis=1)).tobytes())
    return b"".join(parts)


def _elem_major(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.reshape(a.shape[0], -1).T)


def _from_elem_major(a: np.ndarray, shape: tuple) -> np.ndarray:
    return np.ascontiguousarray(a.reshape(-1, shape[0]).T).reshape(shape)


def decode_columns(
    raw: bytes, k: int, n: int, m: int, obs_dim: int, jac_dtype: str
) -> dict[str, np.ndarray]:
    """Inverse of :func:`encode_columns` (``raw`` must have the size the specs imply)."""
    out: dict[str, np.ndarray] = {}
    pos = 0
    view = memoryview(raw)
    for name, shape, dt in column_specs(n, m, obs_dim, jac_dtype):
        full = (k, *shape)
        size = k * int(np.prod(shape, dtype=np.int64)) * np.dtype(dt).itemsize
        block = view[pos : pos + size]
        pos += size
        transform = TRANSFORMS[name]
        if name == "flags":
            flags = np.frombuffer(block, np.uint8)
            for flag, bit in schema.FLAG_BITS.items():
                out[flag] = (flags & (1 << bit)).astype(bool)
        elif name == "zero_masks":
            packed = xor_undelta(np.frombuffer(block, np.uint8).reshape(full))
            bits = np.unpackbits(packed, axis=1, count=n * (n + m)).astype(bool)
            out["zero_state"] = bits[:, : n * n].reshape(k, n, n)
            out["zero_action"] = bits[:, n * n :].reshape(k, n, m)
        elif transform == "raw":
            out[name] = np.frombuffer(block, dt).reshape(full).copy()
        elif transform == "xor-delta+T+shuffle":
            u = _from_elem_major(unshuffle(block, np.dtype(dt.replace("f", "u")), (-1,)), full)
            out[name] = xor_undelta(u).view(dt)
        elif transform == "T+shuffle":
            out[name] = _from_elem_major(unshuffle(block, np.dtype(dt), (-1,)), full)
        else:  # shuffle (state is un-XOR-ed below)
            out[name] = unshuffle(block, np.dtype(dt), full)
    st = _uint_view(out["state"]).copy()
    nxt = _uint_view(out["next_state"])
    st[1:] ^= nxt[:-1]
    out["state"] = st.view("<f8")
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
