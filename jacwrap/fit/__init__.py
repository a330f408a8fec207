"""MLP dynamics models fitted on recordings with the five loss modes of docs/SCIENCE.md (Q4).

>>> from jacwrap.fit import load_fit_data, fit, FitConfig
>>> data = load_fit_data("run.jwr")                   # a CartpoleBalance recording: n = 4, m = 1
>>> config = FitConfig(loss_mode="state-jacobian", epochs=1, hidden=(16, 16))  # paper: 100, 512
>>> result = fit(data, config)
>>> 0.0 <= result.summary.induced_sparsity <= 1.0    # the paper: far below the target's
True
>>> jac_s, jac_a = result.model.jacobian(data.state[0], data.action[0])
>>> jac_s.shape, jac_a.shape
((4, 4), (4, 1))

Modules: ``normalize`` (z-scores, Jacobian transform), ``losses`` (the loss modes),
``model`` (the MLP, :class:`DynamicsModel`), ``data`` (:class:`FitData`, split),
``dataset`` (loading recordings), ``train`` (:func:`fit`), ``summary`` (the JSON schema,
:func:`find_fit_summaries`), ``plot`` (the comparison figure). docs/FIT.md documents them.
The names below are loaded from their module on first use.
"""

from __future__ import annotations

_EXPORTS = {
    "FitConfig": "jacwrap.fit.train",
    "FitResult": "jacwrap.fit.train",
    "fit": "jacwrap.fit.train",
    "FitData": "jacwrap.fit.data",
    "FitDataError": "jacwrap.fit.data",
    "load_fit_data": "jacwrap.fit.dataset",
    "DynamicsModel": "jacwrap.fit.model",
    "ModelFileError": "jacwrap.fit.model",
    "LOSS_MODES": "jacwrap.fit.losses",
    "FitSummary": "jacwrap.fit.summary",
    "FitSummaryError": "jacwrap.fit.summary",
    "find_fit_summaries": "jacwrap.fit.summary",
    "read_summary": "jacwrap.fit.summary",
    "plot_fit_comparison": "jacwrap.fit.plot",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'jacwrap.fit' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
