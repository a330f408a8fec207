"""PNG figures of the sparsity analyses (matplotlib, Agg canvas, no pyplot state).

Each function draws one figure from arrays it is given (never recomputing a statistic),
writes it to ``path`` and returns the path.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jacwrap._extras import require

require("analysis", "matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402

from jacwrap.analysis.accumulators import HIST_EDGES  # noqa: E402
from jacwrap.analysis.contact_stats import ContactPhase, shade_contact_phases  # noqa: E402

_DPI = 120


def save_figure(fig: Figure, path: Path) -> Path:
    """Render ``fig`` on an Agg canvas and write it to ``path`` (format from the suffix)."""
    path = Path(path)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    return path


def zero_pct_heatmaps(
    pct_state: np.ndarray,
    pct_action: np.ndarray,
    state_labels: Sequence[str],
    action_labels: Sequence[str],
    title: str,
    path: Path,
) -> Path:
    """Q2: per-element percentage of samples in which J_s / J_a elements are zero (0-100 %)."""
    n, m = pct_state.shape[0], pct_action.shape[1]
    cell = 0.42 if n > 8 else 0.7
    fig = Figure(
        figsize=(max(6.0, cell * (n + m) + 3.0), max(3.5, cell * n + 2.2)), layout="constrained"
    )
    axes = fig.subplots(1, 2, width_ratios=[n, max(m, 1)])
    annotate = n <= 8
    im = None
    for k, (ax, mat, cols, name) in enumerate(
        (
            (axes[0], pct_state, state_labels, "J_s = ds'/ds"),
            (axes[1], pct_action, action_labels, "J_a = ds'/da"),
        )
    ):
        im = ax.imshow(mat, vmin=0, vmax=100, cmap="viridis", aspect="equal")
        ax.set_title(name, fontsize=10)
        ax.set_xticks(range(mat.shape[1]), list(cols), rotation=90, fontsize=7)
        if k == 0:
            ax.set_yticks(range(n), list(state_labels), fontsize=7)
            ax.set_ylabel("next-state variable")
        else:
            ax.set_yticks(range(n), [""] * n)
        ax.set_xlabel("current state variable" if k == 0 else "action")
        if annotate:
            for (i, j), v in np.ndenumerate(mat):
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                            color="black" if v > 60 else "white")  # fmt: skip
    fig.colorbar(im, ax=axes, label="% of samples zero", shrink=0.8)
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)


def sparsity_histograms(
    density: np.ndarray, means: np.ndarray, title: str, path: Path, labels=("J_s", "J_a")
) -> Path:
    """Q2: density histograms (bins of 0.1 on [0, 1]) of per-sample sparsity, means marked.

    ``density`` (K, 10) and ``means`` (K,) for the K kinds named in ``labels``.
    """
    fig = Figure(figsize=(4.2 * len(labels), 3.6), layout="constrained")
    axes = fig.subplots(1, len(labels), sharey=True, squeeze=False)[0]
    for ax, d, mu, name in zip(axes, density, means, labels, strict=True):
        draw_sparsity_histogram(ax, d, mu, name)
    axes[0].set_ylabel("density")
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)


def draw_sparsity_histogram(ax, density: np.ndarray, mean: float, name: str, title=None) -> None:
    """One panel of :func:`sparsity_histograms`: density bars (10 bins), the mean marked."""
    centers = 0.5 * (HIST_EDGES[:-1] + HIST_EDGES[1:])
    width = HIST_EDGES[1] - HIST_EDGES[0]
    ax.bar(centers, density, width=width, color="C0", edgecolor="white", alpha=0.85)
    if np.isfinite(mean):
        ax.axvline(mean, color="C3", lw=2, label=f"mean {mean:.3f}")
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xlim(0, 1)
    ax.set_xticks(HIST_EDGES[::2])
    ax.set_xlabel(f"sparsity of {name} per sample")
    ax.set_title(name if title is None else title, fontsize=10)


def tsne_scatter(xy: np.ndarray, colour: np.ndarray, title: str, note: str, path: Path) -> Path:
    """Q2: 2-D t-SNE of (s, a, s') coloured by combined sparsity; ``note`` states the cap.

    The colour scale spans the sample's range of sparsity (widened to 0.1 if narrower), so
    that small differences stay visible; the colour bar shows the values.
    """
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.add_subplot()
    lo, hi = float(np.nanmin(colour)), float(np.nanmax(colour))
    if hi - lo < 0.1:
        mid = 0.5 * (lo + hi)
        lo, hi = max(0.0, mid - 0.05), min(1.0, mid + 0.05)
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=colour, s=6, cmap="viridis", vmin=lo, vmax=hi)
    fig.colorbar(sc, ax=ax, label="combined sparsity of [J_s | J_a]")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title(title + "\n" + textwrap.fill(note, 80), fontsize=9)
    return save_figure(fig, path)


def rollout_sparsity(
    t: np.ndarray,
    sparsity: np.ndarray,
    title: str,
    path: Path,
    phases: Sequence[ContactPhase] = (),
    pairs: Sequence[str] = (),
) -> Path:
    """Q3: per-step sparsity of J_s and J_a over one rollout (:func:`draw_rollout`)."""
    fig = Figure(figsize=(8.0, 3.4 if not phases else 3.8), layout="constrained")
    draw_rollout(fig.add_subplot(), t, sparsity, title, phases, pairs)
    return save_figure(fig, path)


def draw_rollout(
    ax,
    t: np.ndarray,
    sparsity: np.ndarray,
    title: str,
    phases: Sequence[ContactPhase] = (),
    pairs: Sequence[str] = (),
) -> None:
    """The panel of :func:`rollout_sparsity`: the sparsity of J_s and J_a per step
    (non-finite steps are gaps) over the contact ``phases``, if given, shaded one colour per
    contact set (labels from ``pairs``;
    :func:`~jacwrap.analysis.contact_stats.shade_contact_phases`)."""
    ax.plot(t, sparsity[:, 0], lw=1.0, label="J_s", color="C0")
    ax.plot(t, sparsity[:, 1], lw=1.0, label="J_a", color="C1")
    ax.set_xlabel("step in episode")
    ax.set_ylabel("sparsity")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, loc="upper left" if phases else "best")
    if phases:
        shade_contact_phases(ax, phases, pairs)
    ax.set_title(title, fontsize=11)


def sparsity_by_contact_count(
    state: np.ndarray, action: np.ndarray, title: str, path: Path, labels=("J_s", "J_a")
) -> Path:
    """Contacts: density histograms (bins of 0.1) of the per-sample sparsity, one line per
    number c of pairs in contact; ``state`` / ``action`` (P + 1, 10) step counts
    (:class:`~jacwrap.analysis.contact_stats.SparsityByContacts`). Counts without steps are
    left out; the legend gives each c's steps."""
    fig = Figure(figsize=(4.6 * len(labels), 3.8), layout="constrained")
    axes = fig.subplots(1, len(labels), sharey=True, squeeze=False)[0]
    width = HIST_EDGES[1] - HIST_EDGES[0]
    for ax, hist, name in zip(axes, (state, action), labels, strict=True):
        for c in np.flatnonzero(hist.sum(axis=1)):
            steps = int(hist[c].sum())
            ax.stairs(hist[c] / (steps * width), HIST_EDGES, lw=1.6, color=f"C{c % 10}",
                      label=f"{c} pair{'' if c == 1 else 's'} ({steps} steps)")  # fmt: skip
        ax.set_xlim(0, 1)
        ax.set_xticks(HIST_EDGES[::2])
        ax.set_xlabel(f"sparsity of {name} per sample")
        ax.set_title(name, fontsize=10)
        if hist.any():
            ax.legend(fontsize=7, title="pairs in contact", title_fontsize=7)
        else:
            ax.text(0.5, 0.5, "no finite steps", ha="center", va="center")
    axes[0].set_ylabel("density")
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)


def log_bins(max_length: int, count: int = 25) -> np.ndarray:
    """Integer bin edges, spaced logarithmically, covering run lengths 1..max_length."""
    edges = np.unique(np.floor(np.logspace(0, np.log10(max_length + 1), count)).astype(int))
    if edges[-1] <= max_length:
        edges = np.append(edges, max_length + 1)
    return edges


def binned_density(hist: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Density (per unit length) of run-length counts ``hist[L]`` in integer ``edges`` bins."""
    padded = np.zeros(edges[-1] + 1, np.int64)
    padded[: hist.size] = hist[: padded.size]
    counts = np.add.reduceat(padded[: edges[-1]], edges[:-1])
    total = counts.sum()
    return counts / (total * np.diff(edges)) if total else np.zeros(counts.size)


def run_length_histograms(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray, float, float]], title: str, path: Path
) -> Path:
    """Q3: log-log histograms of zero / non-zero run lengths, mean durations marked.

    ``panels``: (name, zero_hist, nonzero_hist, mean_zero, mean_nonzero) per matrix, where
    ``*_hist[L]`` counts runs of length L.
    """
    fig = Figure(figsize=(4.6 * len(panels), 3.6), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, zh, nzh, mz, mnz) in zip(axes, panels, strict=True):
        longest = max(zh.size, nzh.size) - 1
        drawn = False
        for hist, mean, label, colour in ((zh, mz, "zero", "C0"), (nzh, mnz, "non-zero", "C1")):
            if hist.sum() == 0:
                continue
            edges = log_bins(longest)
            dens = binned_density(hist, edges)
            ax.stairs(np.where(dens > 0, dens, np.nan), edges, color=colour, lw=1.6,
                      baseline=None, label=f"{label} runs")  # fmt: skip
            ax.axvline(mean, color=colour, ls="--", lw=1.5, label=f"mean {label} {mean:.1f}")
            drawn = True
        if drawn:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no element switched", ha="center", va="center")
        ax.set_xlabel("run length (steps)")
        ax.set_ylabel("density")
        ax.set_title(name, fontsize=10)
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)
