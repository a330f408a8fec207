"""PyTorch datasets of recorded transitions (s, a, s', J_s, J_a), for world-model training.

>>> import torch
>>> from jacwrap.data import TorchTransitions
>>> ds = TorchTransitions(["run.jwr"], normalize=True)        # map-style, random access
>>> loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True)  # num_workers=2 works
>>> s, a, s_next, jac_s, jac_a = next(iter(loader))
>>> tuple(s.shape), tuple(jac_a.shape)
((64, 4), (64, 4, 1))
>>> stream = ds.iterable(shuffle=True)                         # chunk by chunk, for big files

Items are tuples of tensors, one per name in ``fields`` (any ``Steps`` field: ``obs``,
``action``, ``reward``, ``state``, ``next_state``, ``jac_state``, ``jac_action``,
``zero_state``, ``sparsity``, ``finite``, ``episode``, ``t``, ...). Floats come as ``dtype``
(float64 by default, the recording's precision), masks as bool, indices as int64.

Neither form loads a file whole. The dataset object holds paths, counts and (if needed) an
index of the kept steps; each process (each DataLoader worker) opens the files itself on
first use and keeps the last ``cache_chunks`` decoded chunks (about 1 MiB of steps each).
Construction reads the files once when it has to (``drop_nonfinite`` or ``normalize=True``):
to find the non-finite steps and to compute the z-score statistics.

``normalize=True`` applies the z-scoring of docs/SCIENCE.md (Q4) (:mod:`jacwrap.fit.normalize`: x_n =
(x - mu) / sigma for s, a, s', and J_n = diag(1/sigma_out) J diag(sigma_in) for the
Jacobians), with statistics of these files' finite steps; pass a
:class:`~jacwrap.fit.normalize.Normalization` instead to use others (e.g. a training
split's). ``dataset.normalization`` is the one in use.
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from jacwrap._extras import require

require("sb3", "torch")

import torch  # noqa: E402

from jacwrap.data.errors import DataError  # noqa: E402
from jacwrap.data.sources import check_compatible, open_sources  # noqa: E402
from jacwrap.data.stats import NormalizationStats, normalize_field  # noqa: E402
from jacwrap.fit.normalize import Normalization  # noqa: E402
from jacwrap.recording import Steps, open_recording  # noqa: E402

DEFAULT_FIELDS = ("state", "action", "next_state", "jac_state", "jac_action")
FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Steps))


def _check_fields(fields: Sequence[str]) -> tuple[str, ...]:
    fields = tuple(fields)
    bad = [f for f in fields if f not in FIELD_NAMES]
    if bad or not fields:
        raise DataError(f"unknown field(s) {bad or fields}; choose from {', '.join(FIELD_NAMES)}")
    return fields


class _Files:
    """The recordings as one process sees them: opened on first use, decoded chunks cached."""

    def __init__(self, paths: Sequence[os.PathLike], cache_chunks: int):
        self.paths, self.cache_chunks = list(paths), cache_chunks
        self.pid = os.getpid()
        self.recs: dict[int, Any] = {}
        self.ranges: dict[int, np.ndarray] = {}
        self.cache: OrderedDict[tuple[int, int], tuple[int, Steps]] = OrderedDict()

    def rec(self, f: int):
        if f not in self.recs:
            rec = open_recording(self.paths[f])
            self.recs[f] = rec
            self.ranges[f] = np.array([a for a, _ in rec.chunk_ranges()], np.int64)
        return self.recs[f]

    def chunk_of(self, f: int, k: int) -> tuple[int, Steps]:
        """(first step, Steps) of the chunk of file ``f`` that holds step ``k``."""
        rec = self.rec(f)
        j = int(np.searchsorted(self.ranges[f], k, side="right")) - 1
        key = (f, j)
        hit = self.cache.get(key)
        if hit is not None:
            self.cache.move_to_end(key)
            return hit
        a, b = rec.chunk_ranges()[j]
        hit = (a, rec.read(a, b))
        self.cache[key] = hit
        while len(self.cache) > self.cache_chunks:
            self.cache.popitem(last=False)
        return hit

    def close(self) -> None:
        for rec in self.recs.values():
            rec.close()
        self.recs.clear()
        self.cache.clear()


class _Base:
    """What both forms share: sources, fields, the finite-step scan and normalisation."""

    def _setup(self, paths, fields, normalize, drop_nonfinite, dtype):
        self.fields = _check_fields(fields)
        if normalize not in (True, False, None) and not isinstance(normalize, Normalization):
            raise DataError("normalize must be True, False or a Normalization")
        sources = open_sources(paths)
        check_compatible(sources)
        self.paths = [s.path for s in sources]
        self.header = sources[0].header
        self.dtype = dtype
        self.drop_nonfinite = bool(drop_nonfinite)
        self._lengths = np.array([s.num_steps for s in sources], np.int64)
        self._starts = np.concatenate([[0], np.cumsum(self._lengths)])
        n, m = self.header.n, self.header.m
        stats = NormalizationStats(n, m) if normalize is True else None
        keep = self._scan(stats) if (drop_nonfinite or stats is not None) else None
        self.normalization: Normalization | None = (
            stats.result() if stats is not None else (normalize or None)
        )
        return keep

    def _scan(self, stats) -> np.ndarray | None:
        """Global indices of the finite steps (None if all are), feeding ``stats``."""
        parts, dropped = [], 0
        for f, path in enumerate(self.paths):
            with open_recording(path) as rec:
                start = int(self._starts[f])
                for (a, _), steps in zip(rec.chunk_ranges(), rec.iter_chunks(), strict=True):
                    ok = np.asarray(steps.finite, bool)
                    dropped += int(ok.size - ok.sum())
                    parts.append(start + a + np.flatnonzero(ok))
                    if stats is not None:
                        stats.update(steps)
        if not self.drop_nonfinite or dropped == 0:
            return None
        return np.concatenate(parts).astype(np.int64)

    def _tensor(self, name: str, values: np.ndarray) -> torch.Tensor:
        if self.normalization is not None:
            values = normalize_field(name, values, self.normalization, self.header.n)
        t = torch.from_numpy(np.ascontiguousarray(values))
        return t.to(self.dtype) if t.is_floating_point() else t

    def _locate(self, g: int) -> tuple[int, int]:
        f = int(np.searchsorted(self._starts, g, side="right")) - 1
        return f, int(g - self._starts[f])


class TorchTransitions(_Base, torch.utils.data.Dataset):
    """Map-style dataset of recorded steps (see the module docstring).

    Args:
        paths: one or more ``.jwr`` recordings of one env (compatible layouts).
        fields: the step fields of each item, in order (default (s, a, s', J_s, J_a)).
        normalize: False, True (z-score with these files' statistics) or a Normalization.
        drop_nonfinite: leave out steps whose Jacobians are not finite (as ``jacwrap fit``).
        dtype: dtype of the float tensors.
        cache_chunks: decoded chunks each process keeps (bounds its memory).
    """

    def __init__(
        self,
        paths,
        fields: Sequence[str] = DEFAULT_FIELDS,
        *,
        normalize: bool | Normalization = False,
        drop_nonfinite: bool = True,
        dtype: torch.dtype = torch.float64,
        cache_chunks: int = 4,
    ):
        self._index = self._setup(paths, fields, normalize, drop_nonfinite, dtype)
        self.cache_chunks = max(1, int(cache_chunks))
        self._files: _Files | None = None

    def __len__(self) -> int:
        return int(self._starts[-1]) if self._index is None else len(self._index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        size = len(self)
        i = int(i)
        if not -size <= i < size:
            raise IndexError(f"index {i} out of range for {size} steps")
        i %= size
        g = i if self._index is None else int(self._index[i])
        f, k = self._locate(g)
        first, steps = self.files().chunk_of(f, k)
        row = k - first
        return tuple(self._tensor(n, getattr(steps, n)[row : row + 1])[0] for n in self.fields)

    def files(self) -> _Files:
        """This process's open files (a forked or unpickled copy opens its own)."""
        if self._files is None or self._files.pid != os.getpid():
            self._files = _Files(self.paths, self.cache_chunks)
        return self._files

    @property
    def cached_chunks(self) -> int:
        """Decoded chunks held by this process (at most ``cache_chunks``)."""
        return (
            0 if self._files is None or self._files.pid != os.getpid() else len(self._files.cache)
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_files"] = None  # open files and decoded chunks stay in their process
        return state

    def close(self) -> None:
        if self._files is not None:
            self._files.close()

    def iterable(self, *, shuffle: bool = False, seed: int = 0) -> IterableTransitions:
        """The same steps as an :class:`IterableTransitions` (same fields, normalisation)."""
        return IterableTransitions(
            self.paths,
            self.fields,
            normalize=self.normalization or False,
            drop_nonfinite=self.drop_nonfinite,
            dtype=self.dtype,
            shuffle=shuffle,
            seed=seed,
        )


class IterableTransitions(_Base, torch.utils.data.IterableDataset):
    """Iterable dataset: the files' chunks in order (or shuffled: chunk order and the rows
    within each chunk, reshuffled per :meth:`set_epoch`), split between DataLoader workers
    chunk by chunk; memory is one decoded chunk per worker. Arguments as
    :class:`TorchTransitions`, plus ``shuffle`` and ``seed``; no scan unless
    ``normalize=True``.
    """

    def __init__(
        self,
        paths,
        fields: Sequence[str] = DEFAULT_FIELDS,
        *,
        normalize: bool | Normalization = False,
        drop_nonfinite: bool = True,
        dtype: torch.dtype = torch.float64,
        shuffle: bool = False,
        seed: int = 0,
    ):
        self._setup(paths, fields, normalize, False, dtype)
        self.drop_nonfinite = bool(drop_nonfinite)
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for this epoch (call before iterating, e.g. once per training epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Steps in the files (the finite ones are fewer when some are dropped)."""
        return int(self._starts[-1])

    def _units(self) -> list[tuple[int, int, int]]:
        units = []
        for f, path in enumerate(self.paths):
            with open_recording(path) as rec:
                units += [(f, a, b) for a, b in rec.chunk_ranges()]
        return units

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        units = self._units()
        if self.shuffle:
            units = [units[i] for i in rng.permutation(len(units))]
        info = torch.utils.data.get_worker_info()
        if info is not None:
            units = units[info.id :: info.num_workers]
        recs: dict[int, Any] = {}
        try:
            for f, a, b in units:
                if f not in recs:
                    recs[f] = open_recording(self.paths[f])
                steps = recs[f].read(a, b)
                rows = np.arange(len(steps))
                if self.drop_nonfinite:
                    rows = rows[np.asarray(steps.finite, bool)]
                if self.shuffle:
                    rows = rng.permutation(rows)
                cols = [self._tensor(n, getattr(steps, n)[rows]) for n in self.fields]
                for i in range(len(rows)):
                    yield tuple(c[i] for c in cols)
        finally:
            for rec in recs.values():
                rec.close()
