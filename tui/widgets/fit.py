"""MLP-fit summaries found next to the recording: per loss mode, test MSE and sparsity.

Summaries come from :func:`jacwrap.fit.summary.find_fit_summaries` (``FitSummary``
objects, one per loss mode and seed); the panel shows one line per loss mode (and
residual flag) with the mean over its seeds, or says that none were found.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.text import Text
from textual.widgets import Static

NO_FITS = "no fit summaries found"
#: Short names of the loss modes (docs/SCIENCE.md, Q4) so a line fits the 34-column panel.
SHORT_MODES = {
    "state": "state",
    "state-jacobian": "jac-mse",
    "state-jacobian-l1": "jac-l1",
    "state-jacobian-l1-regularizer": "l1-reg",
    "state-jacobian-l1-sparse-only": "l1-sparse",
}


def _fmt(x: float, spec: str) -> str:
    return format(x, spec) if math.isfinite(x) else "–"


def fit_rows(summaries: Sequence[Any]) -> list[tuple[str, int, float, float, float]]:
    """(mode label, seeds, mean test MSE, mean learned sparsity, target sparsity) per mode.

    Summaries are grouped by loss mode and residual flag, in the order given.
    """
    groups: dict[tuple[str, bool], list[Any]] = {}
    for s in summaries:
        groups.setdefault((s.loss_mode, bool(s.residual)), []).append(s)
    rows = []
    for (mode, residual), group in groups.items():
        label = SHORT_MODES.get(mode, mode) + ("+res" if residual else "")
        rows.append(
            (
                label,
                len(group),
                float(np.nanmean([g.test_mse for g in group])),
                float(np.nanmean([g.induced_sparsity for g in group])),
                float(np.nanmean([g.target_sparsity for g in group])),
            )
        )
    return rows


def render_fit(summaries: Sequence[Any] | None) -> Text:
    """One line per loss mode: ``mode  test-MSE  learned/target combined sparsity``."""
    out = Text(no_wrap=True, overflow="ellipsis")
    if not summaries:
        return out.append(NO_FITS, "italic dim")
    out.append("mode      ×  test mse  sparsity", "dim")
    for label, seeds, mse, induced, target in fit_rows(summaries):
        out.append(f"\n{label[:9]:<9} {seeds:>1} {_fmt(mse, '9.2e')} ")
        out.append(_fmt(induced, ".3f"), "bold")
        out.append(f"/{_fmt(target, '.3f')}")
    return out


class FitPanel(Static):
    """MLP-fit summaries (or a note that there are none)."""
