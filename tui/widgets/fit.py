"""MLP-fit summaries found next to the recording: per loss mode, test MSE and sparsity.

Summaries come from ``jacwrap.fit.summary.find_fit_summaries(recording_path)``; until
that module exists (or when it finds none) the panel says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import Static

NO_FITS = "no fit summaries found"


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return None


def _fmt(x: Any, spec: str) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    return format(v, spec) if math.isfinite(v) else "–"


def render_fit(summaries: Sequence[Any] | None) -> Text:
    """One line per loss mode: ``mode  mse  induced/target sparsity``."""
    out = Text(no_wrap=True, overflow="ellipsis")
    if not summaries:
        return out.append(NO_FITS, "italic dim")
    out.append("mode        mse    sparsity", "dim")
    for s in summaries:
        mode = str(_get(s, "mode", "loss_mode") or "?")
        mode = mode.replace("state-jacobian", "s-jac").replace("-regularizer", "-reg")
        mse = _fmt(_get(s, "test_mse", "mse"), ".2e")
        induced = _fmt(_get(s, "induced_sparsity", "learned_sparsity", "sparsity"), ".3f")
        target = _fmt(_get(s, "target_sparsity"), ".3f")
        out.append(f"\n{mode[:11]:<11} {mse:>8} {induced}/{target}")
    return out


class FitPanel(Static):
    """MLP-fit summaries (or a note that there are none)."""
