"""Sparsity bars of the current step: J_s, J_a and combined, each a bar and its value."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from jacwrap.sparsity import SPARSITY_KINDS

BAR_LABELS = {"state": "J_s", "action": "J_a", "combined": "all"}
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` cells filled to ``fraction`` (eighth-cell resolution)."""
    eighths = round(min(max(fraction, 0.0), 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (_EIGHTHS[part] if part else "")
    return text.ljust(width, "░") if full < width else text


def format_sparsity(value: float) -> str:
    """A sparsity value as shown next to its bar (``n/a`` when the Jacobian was non-finite)."""
    return "n/a" if not math.isfinite(value) else f"{value:.3f}"


def render_bars(sparsity, width: int) -> Text:
    """The three bars for one step's sparsity ``(3,)`` in :data:`SPARSITY_KINDS` order."""
    out = Text(no_wrap=True, overflow="crop")
    bar_w = max(4, width - 11)
    for i, kind in enumerate(SPARSITY_KINDS):
        value = float(sparsity[i])
        if i:
            out.append("\n")
        out.append(f"{BAR_LABELS[kind]} ", "bold")
        if math.isfinite(value):
            out.append(bar(value, bar_w), "color(75)")
        else:
            out.append("non-finite".ljust(bar_w)[:bar_w], "color(201)")
        out.append(f" {format_sparsity(value):>5}")
    return out


class SparsityBars(Static):
    """Live bars of the current step's sparsity."""

    def show(self, sparsity) -> None:
        """Show one step's ``(3,)`` sparsity triplet."""
        self._sparsity = sparsity
        self.update(render_bars(sparsity, max(self.size.width, 20)), layout=False)

    def on_resize(self) -> None:
        if getattr(self, "_sparsity", None) is not None:
            self.update(render_bars(self._sparsity, max(self.size.width, 20)))
