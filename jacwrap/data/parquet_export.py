"""Recordings as Parquet files: one row per step, one folder per recording.

Layout of ``DIR``: a folder per env (its files share one schema; recordings with float32
Jacobians go to ``<Env>-float32``), in it a folder per recording (shards side by side)::

    DIR/<Env>/<recording stem>/part-00000.parquet

Every reader of Parquet opens them without jacwrap: ``pandas.read_parquet("DIR/<Env>")``,
``polars.read_parquet("DIR/<Env>/*/*.parquet")``, DuckDB's
``read_parquet('DIR/<Env>/*/*.parquet')``, Hugging Face
``datasets.load_dataset("parquet", data_files="DIR/<Env>/*/*.parquet")``.

Columns: ``recording`` and ``env`` (strings), ``episode`` (index in the recording), ``step``
(t within the episode), ``index`` (global step in the recording), ``env_index`` (the env of a
vector recording), then the fields of :mod:`jacwrap.data.fields`: ``obs``, ``action``,
``reward``, ``terminated``, ``truncated``, ``state``, ``next_state``, ``jac_state``,
``jac_action``, ``jac_finite`` (and the zero masks of float32 recordings), and the sparsity
as ``sparsity_state``, ``sparsity_action``, ``sparsity_combined``. Vectors are fixed-size
lists, matrices fixed-size lists of rows (``jac_state[i][j]`` = d s'_i / d s_j), with the
recording's dtypes (float64 stays float64, observations float32).

The file's key-value metadata holds ``jacwrap.header`` (the recording's header as JSON: env,
dims, labels, threshold, policy, versions) and ``jacwrap.export`` (this layout's name and
version, the source file, counts, the incomplete episodes). Files are streamed chunk by
chunk through ``Recording.iter_chunks`` into row groups of about ``row_group_bytes``, written
under a hidden temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from jacwrap.data.errors import ExportExistsError, require
from jacwrap.data.fields import TRANSITION_FIELDS, Field, jacobian_fields, sparsity_columns
from jacwrap.data.result import ExportResult, progress
from jacwrap.data.sources import Source, check_compatible, open_sources, unique_names
from jacwrap.recording import RecordingHeader, Steps, open_recording
from jacwrap.sparsity import SPARSITY_KINDS

PARQUET_LAYOUT = "jacwrap.parquet"
PARQUET_LAYOUT_VERSION = 1
DEFAULT_ROW_GROUP_BYTES = 32 << 20
INDEX_COLUMNS = ("recording", "env", "episode", "step", "index", "env_index")


def _pa():
    return require("pyarrow")


def arrow_type(field: Field, header: RecordingHeader):
    """The Arrow type of one field: scalar, fixed-size list, or fixed-size list of rows."""
    pa = _pa()
    t = pa.from_numpy_dtype(field.dtype(header))
    for size in reversed(field.shape(header)):
        t = pa.list_(t, size)
    return t


def table_name(header: RecordingHeader) -> str:
    """The folder of a recording's table: the env, ``<Env>-float32`` for float32 Jacobians
    (their columns differ)."""
    return header.env_name + ("-float32" if header.jac_dtype == "float32" else "")


def parquet_schema(header: RecordingHeader):
    """The Arrow schema of an exported recording (without the file metadata)."""
    pa = _pa()
    cols = [
        pa.field("recording", pa.string()),
        pa.field("env", pa.string()),
        pa.field("episode", pa.int64()),
        pa.field("step", pa.int64()),
        pa.field("index", pa.int64()),
        pa.field("env_index", pa.int32()),
    ]
    for f in (*TRANSITION_FIELDS, *jacobian_fields(header)):
        cols.append(pa.field(f.name, arrow_type(f, header), nullable=False))
    cols += [pa.field(f"sparsity_{k}", pa.float64(), nullable=False) for k in SPARSITY_KINDS]
    return pa.schema(cols)


def _array(values: np.ndarray, shape: tuple[int, ...], dtype: np.dtype):
    """A (k, *shape) array as nested fixed-size lists (zero-copy from contiguous NumPy)."""
    pa = _pa()
    flat = pa.array(np.ascontiguousarray(values, dtype=dtype).reshape(-1))
    for size in reversed(shape):
        flat = pa.FixedSizeListArray.from_arrays(flat, size)
    return flat


def steps_to_batch(
    steps: Steps, header: RecordingHeader, schema, name: str, ep_env: np.ndarray, start: int
):
    """One chunk of ``Steps`` (global steps ``start ..``) as a record batch of ``schema``."""
    pa = _pa()
    k = len(steps)
    cols = {
        "recording": pa.repeat(pa.scalar(name, pa.string()), k),
        "env": pa.repeat(pa.scalar(header.env_name, pa.string()), k),
        "episode": pa.array(steps.episode.astype(np.int64)),
        "step": pa.array(steps.t.astype(np.int64)),
        "index": pa.array(np.arange(start, start + k, dtype=np.int64)),
        "env_index": pa.array(ep_env[steps.episode].astype(np.int32)),
    }
    for f in (*TRANSITION_FIELDS, *jacobian_fields(header)):
        cols[f.name] = _array(getattr(steps, f.attr), f.shape(header), f.dtype(header))
    for kind, values in sparsity_columns(steps.sparsity).items():
        cols[f"sparsity_{kind}"] = pa.array(values)
    return pa.RecordBatch.from_arrays([cols[n] for n in schema.names], schema=schema)


def file_metadata(source: Source) -> dict[bytes, bytes]:
    """The key-value metadata of a recording's Parquet file (header and export facts)."""
    export = {
        "layout": PARQUET_LAYOUT,
        "layout_version": PARQUET_LAYOUT_VERSION,
        "source": str(source.path),
        "num_steps": source.num_steps,
        "num_episodes": source.num_episodes,
        "incomplete_episodes": [e.index for e in source.episodes if not e.complete],
        "truncated_tail": source.truncated_tail,
        "index_columns": list(INDEX_COLUMNS),
    }
    return {
        b"jacwrap.header": json.dumps(source.header.to_json_dict(), sort_keys=True).encode(),
        b"jacwrap.export": json.dumps(export, sort_keys=True).encode(),
    }


def export_parquet(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
    row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
    compression: str = "zstd",
    compression_level: int | None = 1,
) -> ExportResult:
    """Write each recording to ``out_dir/<Env>/<stem>/part-00000.parquet`` (module doc).

    Refuses (:class:`ExportExistsError`) when a recording's folder exists already, before
    anything is written, unless ``overwrite`` (which replaces only those folders). zstd
    level 1 by default: float64 Jacobians compress little, and higher levels cost 3x the
    time for < 1 % of size (BENCHMARKS.md).
    """
    t0 = time.perf_counter()
    sources = open_sources(paths)
    out = Path(out_dir)
    groups: dict[str, list[Source]] = {}
    for s in sources:
        groups.setdefault(table_name(s.header), []).append(s)
    dirs = []
    for table, group in groups.items():
        check_compatible(group)
        dirs += [out / table / name for name in unique_names(group)]
    sources = [s for group in groups.values() for s in group]
    existing = [str(d) for d in dirs if d.exists()]
    if existing and not overwrite:
        raise ExportExistsError(
            f"{', '.join(existing)}: already exported (pass --overwrite / overwrite=True "
            "to replace)"
        )
    written: list[str] = []
    total = sum(s.num_steps for s in sources)
    with progress(total, "parquet", show_progress) as bar:
        for source, d in zip(sources, dirs, strict=True):
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True)
            codec = (compression, compression_level)
            written.append(str(_write_one(source, d, row_group_bytes, codec, bar)))
    size = sum(Path(p).stat().st_size for p in written)
    episodes = sum(s.num_episodes for s in sources)
    return ExportResult(tuple(written), total, episodes, size, time.perf_counter() - t0)


def _write_one(source: Source, folder: Path, row_group_bytes: int, codec: tuple, bar) -> Path:
    pa, pq = _pa(), require("pyarrow.parquet")
    header = source.header
    schema = parquet_schema(header).with_metadata(file_metadata(source))
    ep_env = np.array([e.env_index for e in source.episodes] or [0], dtype=np.int64)
    final = folder / "part-00000.parquet"
    tmp = folder / f".{final.name}.tmp"
    rows_per_group = None
    pending: list = []
    pending_rows = start = 0
    with (
        open_recording(source.path) as rec,
        pq.ParquetWriter(
            tmp,
            schema,
            compression=codec[0],
            compression_level=codec[1] if codec[0] not in ("none", "snappy") else None,
            use_dictionary=["recording", "env"],
            write_statistics=[*INDEX_COLUMNS, "reward", "jac_finite"],
        ) as writer,
    ):
        for steps in rec.iter_chunks():
            batch = steps_to_batch(steps, header, schema, folder.name, ep_env, start)
            start += len(steps)
            if rows_per_group is None:
                per_row = max(1, batch.nbytes // max(1, batch.num_rows))
                rows_per_group = max(1, row_group_bytes // per_row)
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= rows_per_group:
                writer.write_table(pa.Table.from_batches(pending), row_group_size=pending_rows)
                pending, pending_rows = [], 0
            bar.update(len(steps))
        if pending:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=pending_rows)
    tmp.replace(final)
    return final
