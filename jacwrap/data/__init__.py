"""Using recordings where researchers work: exports, a PyTorch dataset, scoring models.

>>> from jacwrap.data import export_parquet, export_minari, TorchTransitions, score
>>> tables = export_parquet(["run.jwr"], "tables/", show_progress=False)  # pandas, DuckDB, ...
>>> dataset = export_minari(["run.jwr"], "jacwrap/CartpoleBalance/expert-v0", show_progress=False)
>>> ds = TorchTransitions(["run.jwr"], normalize=True)      # (s, a, s', J_s, J_a) tensors
>>> len(ds)
240
>>> my_model = lambda s, a: s                               # any s' = f(s, a), JAX or torch
>>> text = score(my_model, "run.jwr").to_text()             # Q4 metrics of any model

Modules: ``sources`` (recordings of an export), ``fields`` (the exported per-step fields),
``parquet_export``, ``minari_export``, ``torch_dataset``, ``stats`` (streamed z-scores),
``metrics`` (the Q4 metrics, shared with ``jacwrap fit``), ``models`` (a model's
Jacobians in JAX or torch), ``model_loading`` (``MODULE:FUNCTION``), ``scoring``. Exports need
the ``export`` extra (minari, pyarrow). The names below load their module on first use.
"""

from __future__ import annotations

_EXPORTS = {
    "export_parquet": "jacwrap.data.parquet_export",
    "export_minari": "jacwrap.data.minari_export",
    "ExportResult": "jacwrap.data.result",
    "TorchTransitions": "jacwrap.data.torch_dataset",
    "IterableTransitions": "jacwrap.data.torch_dataset",
    "score": "jacwrap.data.scoring",
    "ScoreReport": "jacwrap.data.scoring",
    "model_jacobians": "jacwrap.data.models",
    "DataError": "jacwrap.data.errors",
    "ExportExistsError": "jacwrap.data.errors",
    "MissingExtraError": "jacwrap.data.errors",
    "ModelError": "jacwrap.data.errors",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'jacwrap.data' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
