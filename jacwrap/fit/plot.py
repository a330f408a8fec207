"""The comparison figure in the spirit of the paper's Figure 8 (matplotlib, Agg backend).

Two panels, one column of points per loss mode: (left) the final test next-state MSE
(normalised) of each seed, (right) the induced sparsity of the model's Jacobian on the test
set (at the learned threshold), both on a log axis, with a box over the seeds. The right
panel has horizontal lines at the target (ground-truth) sparsity and at the initial
(untrained) model's sparsity, each averaged over the summaries. A sparsity of exactly 0
cannot sit on a log axis: such seeds are drawn as open triangles on a floor line below the
smallest positive value, labelled "0".
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from jacwrap.fit.losses import LOSS_MODES

SHORT = {
    "state": "state",
    "state-jacobian": "s+J MSE",
    "state-jacobian-l1": "s+J MAE",
    "state-jacobian-l1-regularizer": "s+L1 reg",
    "state-jacobian-l1-sparse-only": "s+J sparse",
}


def _mode_label(mode: str, residual: bool) -> str:
    return SHORT.get(mode, mode) + (" (res)" if residual else "")


def _finite_mean(values) -> float:
    v = [x for x in values if x is not None and math.isfinite(x)]
    return float(np.mean(v)) if v else math.nan


def plot_fit_comparison(summaries, path: str | Path, kind: str = "combined") -> Path:
    """Write the comparison figure of ``summaries`` (FitSummary list) to ``path`` (png/pdf/svg).

    ``kind`` picks the sparsity shown: ``state``, ``action`` or ``combined``.
    """
    from jacwrap._extras import require

    require("fit", "matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not summaries:
        raise ValueError("no fit summaries to plot")
    groups: dict[tuple[str, bool], list] = {}
    for s in summaries:
        groups.setdefault((s.loss_mode, s.residual), []).append(s)
    keys = sorted(groups, key=lambda k: (LOSS_MODES.index(k[0]), k[1]))
    labels = [_mode_label(*k) for k in keys]

    def sparsity(s, section: str) -> float:
        v = (s.raw["target_sparsity"] if section == "target" else s.raw[section]["sparsity"])[kind]
        return math.nan if v is None else float(v)

    mse = [[s.test_mse for s in groups[k]] for k in keys]
    induced = [[sparsity(s, "final") for s in groups[k]] for k in keys]
    target = _finite_mean(sparsity(s, "target") for s in summaries)
    initial = _finite_mean(sparsity(s, "initial") for s in summaries)

    fig, axes = plt.subplots(1, 2, figsize=(max(7.0, 1.6 * len(keys) + 4), 4.2))
    env = summaries[0].env_name or "?"
    seeds = max(len(g) for g in groups.values())
    fig.suptitle(f"{env}: MLP fits per loss mode ({seeds} seed{'s' if seeds > 1 else ''})")
    _strip(axes[0], mse, labels, floor_label=None)
    axes[0].set_ylabel("test next-state MSE (normalised)")
    refs = [v for v in (target, initial) if math.isfinite(v) and v > 0]
    _strip(axes[1], induced, labels, floor_label="= 0", extra=refs + [_resolution(summaries, kind)])
    for value, name, style in (
        (target, "target", ("C3", "--")),
        (initial, "initial", ("0.4", ":")),
    ):
        label = f"{name} {'(ground truth)' if name == 'target' else '(untrained)'}"
        if math.isfinite(value) and value > 0:
            axes[1].axhline(value, color=style[0], ls=style[1], label=f"{label}: {value:.2g}")
        else:  # 0 (or unknown) has no place on a log axis: legend entry only
            axes[1].plot([], [], color=style[0], ls=style[1], label=f"{label}: {value:.2g}")
    thr = summaries[0].raw.get("learned_threshold")
    axes[1].set_ylabel(f"induced {kind} sparsity of J_hat (|J| < {thr:g})")
    axes[1].legend(loc="best", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _resolution(summaries, kind: str) -> float:
    """The smallest non-zero sparsity a test set can show: one element of all its Jacobians."""
    s = summaries[0].raw
    n, m = s["n"], s["m"]
    per_sample = {"state": n * n, "action": n * m, "combined": n * (n + m)}[kind]
    return 1.0 / max(1, s["data"]["num_test"] * per_sample)


def _strip(ax, columns, labels, floor_label, extra=()) -> None:
    """Box + jittered points per column on a log y axis; non-positive values on a floor."""
    positive = [v for col in columns for v in col if math.isfinite(v) and v > 0]
    positive += list(extra)
    lo = min(positive) if positive else 1e-6
    hi = max(positive) if positive else 1.0
    floor = lo / 3.0
    rng = np.random.default_rng(0)
    has_floor = False
    for i, col in enumerate(columns):
        vals = np.asarray([v for v in col if math.isfinite(v)], dtype=float)
        pos = vals[vals > 0]
        if len(pos) > 1:
            ax.boxplot([pos], positions=[i], widths=0.5, showfliers=False)
        x = i + rng.uniform(-0.12, 0.12, size=len(vals))
        ax.scatter(x[vals > 0], pos, s=18, color=f"C{i % 10}", zorder=3)
        if (vals <= 0).any():
            has_floor = True
            ax.scatter(
                x[vals <= 0], np.full((vals <= 0).sum(), floor), s=30, marker="v",
                facecolors="none", edgecolors=f"C{i % 10}", zorder=3,
            )  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylim(floor / 2 if has_floor else lo / 2, hi * 2)
    if has_floor and floor_label:
        ax.axhline(floor, color="0.8", lw=0.8)
        ax.annotate(floor_label, (len(columns) - 0.5, floor), fontsize=8, color="0.5", va="center")
    ax.set_xticks(range(len(columns)), labels, rotation=20, ha="right")
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.grid(axis="y", which="major", alpha=0.3)
