"""Duration panel: the selected element's value and runs, and the episode's run statistics.

All statistics come from :mod:`jacwrap.episode_stats` (which defines each name) through
:class:`tui.episode.EpisodeView`.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from ..episode import EpisodeView
from ..widgets.heatmap import HeatmapData, format_value, variable_codes


def _num(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:.1f}"


def element_name(data: HeatmapData, row: int, col: int) -> str:
    """``J_s[v0,p1]``: the matrix and the codes of the element's row and column variables."""
    s_codes, a_codes = variable_codes(data.state_labels, data.action_labels)
    codes = s_codes + a_codes
    name = "J_s" if col < data.n else "J_a"
    return f"{name}[{s_codes[row]},{codes[col]}]"


def render_selected(
    data: HeatmapData | None, view: EpisodeView, row: int, col: int, t: int
) -> Text:
    """The selected element: full labels, exact value, current run and run statistics."""
    out = Text(no_wrap=True, overflow="ellipsis")
    labels = (data.state_labels + data.action_labels) if data is not None else []
    head = element_name(data, row, col) if data is not None else f"[{row},{col}]"
    out.append(head, "bold")
    if labels:
        out.append(f" {labels[row]}←{labels[col]}", "dim")
    out.append("\n= ")
    if data is None:
        out.append("loading…", "italic")
    else:
        _, value, is_zero = data.cell(row, col)
        out.append(format_value(value), "bold color(226)")
        out.append(" (zero)" if is_zero else "")
    is_zero, start, length = view.element_run(row, col, t)
    out.append(f"\nnow {'zero' if is_zero else 'non-zero'} run {t - start + 1}/{length}")
    out.append(f" from t={start}", "dim")
    mz, mnz, sw = view.element_stats(row, col)
    out.append(f"\nmean run zero {_num(mz)} nz {_num(mnz)} sw {sw}")
    return out


def render_episode(view: EpisodeView) -> Text:
    """Episode-wide run statistics: mean zero / non-zero durations, always-zero elements.

    Durations are the pooled ``mean_zero`` / ``mean_nonzero`` of J_s (J_a) in steps; runs
    that last the whole episode are excluded (docs/SCIENCE.md, Q3).
    """
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append("     zero  non-0  always-0", "dim")
    for name, stats in (("J_s", view.stats_state), ("J_a", view.stats_action)):
        out.append("\n")
        out.append(f"{name} ", "bold")
        out.append(f"{_num(stats.mean_zero):>6} {_num(stats.mean_nonzero):>6}")
        pct = stats.always_zero_pct
        out.append(f"  {stats.always_zero_count}/{stats.always_zero.size} {pct:.0f}%")
    return out


class SelectedPanel(Static):
    """The element under the heatmap cursor."""


class EpisodePanel(Static):
    """Run statistics of the whole episode."""
