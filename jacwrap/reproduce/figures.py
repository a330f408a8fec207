"""The report's figures over all tasks (matplotlib, Agg): histogram grid, fit overview,
returns. Per-task figures are the analysis' own (:mod:`jacwrap.analysis.figures`) and the
fits' (:func:`jacwrap.fit.plot.plot_fit_comparison`); these only put the tasks side by side,
drawing each panel with the same helpers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jacwrap._extras import require

require("analysis", "matplotlib")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from jacwrap.analysis.figures import draw_sparsity_histogram, save_figure  # noqa: E402
from jacwrap.fit.losses import LOSS_MODES  # noqa: E402
from jacwrap.fit.plot import SHORT  # noqa: E402


def _grid(count: int, cols: int, width: float, height: float):
    rows = max(1, math.ceil(count / cols))
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes


def histogram_grid(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], path: Path) -> Path:
    """Per-sample sparsity histograms of J_s and J_a for every task, means marked.

    ``panels``: (task, density (2, 10) for J_s and J_a, means (2,)) per task.
    """
    fig, axes = _grid(2 * len(panels), 4, 3.2, 2.6)
    for k, (task, density, means) in enumerate(panels):
        for j, name in enumerate(("J_s", "J_a")):
            ax = axes[2 * k + j]
            draw_sparsity_histogram(ax, density[j], means[j], name, title=f"{task}: {name}")
            ax.set_ylabel("density" if j == 0 else "")
    fig.suptitle("Per-sample sparsity over each task's recordings (bins of 0.1, mean marked)")
    return save_figure(fig, path)


def fit_overview(tasks: Sequence[tuple[str, list]], threshold: float, path: Path) -> Path:
    """Test error against induced sparsity of every fit, one panel per task.

    ``tasks``: (task, list of FitSummary). x: the combined sparsity of J_hat on the test set
    (symlog: exact zeros stay visible), y: test next-state MSE (normalised, log); one marker
    colour per loss mode; the target (ground-truth) and initial (untrained) sparsity as
    vertical lines.
    """
    fig, axes = _grid(len(tasks), 4, 3.6, 3.0)
    handles: dict[str, object] = {}
    for ax, (task, summaries) in zip(axes, tasks, strict=False):
        for s in summaries:
            i = LOSS_MODES.index(s.loss_mode)
            h = ax.scatter([s.induced_sparsity], [s.test_mse], color=f"C{i}", s=28, zorder=3)
            handles.setdefault(SHORT[s.loss_mode], h)
        target = [s.target_sparsity for s in summaries]
        initial = [s.initial_sparsity for s in summaries]
        if target:
            h = ax.axvline(float(np.nanmean(target)), color="C3", ls="--", lw=1.2)
            handles.setdefault("target (ground truth)", h)
            h = ax.axvline(float(np.nanmean(initial)), color="0.4", ls=":", lw=1.2)
            handles.setdefault("initial (untrained)", h)
        ax.set_xscale("symlog", linthresh=1e-6)
        ax.set_xlim(-1e-7, 1.0)
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(task, fontsize=10)
        ax.set_xlabel(f"induced sparsity (|J| < {threshold:g})", fontsize=8)
        ax.set_ylabel("test MSE (normalised)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncols=min(4, len(handles)), fontsize=8)  # fmt: skip
    fig.suptitle("MLP fits per task and loss mode: test error vs induced sparsity")
    return save_figure(fig, path)


def returns_bars(rows: Sequence[tuple[str, float, float, float]], path: Path) -> Path:
    """Mean return of the recorded episodes (std as error bar) next to the paper's.

    ``rows``: (task, mean, std, paper mean) with NaN where unknown.
    """
    fig = Figure(figsize=(max(6.0, 1.1 * len(rows) + 2), 3.8), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    mean = [r[1] for r in rows]
    std = [r[2] for r in rows]
    paper = [r[3] for r in rows]
    ax.bar(x - 0.2, mean, 0.4, yerr=std, capsize=3, label="recorded episodes (mean, std)")
    ax.bar(x + 0.2, paper, 0.4, color="0.6", label="paper")
    ax.set_xticks(x, [r[0] for r in rows], rotation=25, ha="right")
    ax.set_ylabel("episode return")
    ax.legend(fontsize=8)
    ax.set_title("Expert agents: mean return on the recorded episodes vs the paper's")
    return save_figure(fig, path)
