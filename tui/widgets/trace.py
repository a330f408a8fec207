"""Trace of the episode: J_s / J_a sparsity, reward and contacts as text sparklines, current
step marked.

Each column of the sparkline is the mean over the steps it covers (NaN steps, i.e.
non-finite Jacobians, ignored); the column holding the current step is highlighted and
marked with ``▲`` on the line below.
"""

from __future__ import annotations

import math

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

BLOCKS = "▁▂▃▄▅▆▇█"
LABEL_W = 4
MARK_STYLE = Style(color="color(16)", bgcolor="color(226)", bold=True)


def column_means(values: np.ndarray, columns: int) -> np.ndarray:
    """Mean of ``values`` over ``columns`` equal spans of steps (one column a step if fewer)."""
    values = np.asarray(values, dtype=np.float64)
    t = values.size
    columns = max(1, min(columns, t))
    edges = (np.arange(columns + 1) * t) // columns
    finite = np.isfinite(values)
    sums = np.add.reduceat(np.where(finite, values, 0.0), edges[:-1])
    counts = np.add.reduceat(finite.astype(np.int64), edges[:-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def column_of(step: int, length: int, columns: int) -> int:
    """The sparkline column that shows ``step`` of ``length`` steps in ``columns`` columns."""
    columns = max(1, min(columns, length))
    return min(columns - 1, (step * columns) // max(length, 1))


def sparkline(means: np.ndarray, lo: float, hi: float) -> str:
    """Block characters for column means scaled from ``lo`` to ``hi`` (NaN: blank)."""
    span = hi - lo if hi > lo else 1.0
    chars = []
    for v in means:
        if not math.isfinite(v):
            chars.append(" ")
        else:
            level = int(round((min(max(v, lo), hi) - lo) / span * (len(BLOCKS) - 1)))
            chars.append(BLOCKS[level])
    return "".join(chars)


def trace_lines(
    sparsity: np.ndarray, reward: np.ndarray, columns: int, contacts: np.ndarray | None = None
) -> dict:
    """The sparklines of one episode at ``columns`` columns (computed once per width).

    With ``contacts`` ((T, P) bool), a fourth line ``con`` shows the number of pairs in
    contact (column mean, scaled to the most in the episode); without, it says so.
    """
    finite_r = reward[np.isfinite(reward)]
    r_lo, r_hi = (float(finite_r.min()), float(finite_r.max())) if finite_r.size else (0.0, 1.0)
    lines = [
        ("J_s", sparkline(column_means(sparsity[:, 0], columns), 0.0, 1.0)),
        ("J_a", sparkline(column_means(sparsity[:, 1], columns), 0.0, 1.0)),
        ("rew", sparkline(column_means(reward, columns), r_lo, r_hi)),
    ]
    if contacts is not None:
        count = contacts.sum(axis=1).astype(np.float64)
        lines.append(("con", sparkline(column_means(count, columns), 0.0, max(1.0, count.max()))))
    else:
        lines.append(("con", "(no contact data)"))
    return {"lines": lines, "reward_range": (r_lo, r_hi)}


def render_trace(
    sparsity: np.ndarray,
    reward: np.ndarray,
    step: int,
    width: int,
    lines: dict | None = None,
    contacts: np.ndarray | None = None,
) -> Text:
    """Four sparklines (J_s, J_a sparsity on [0, 1]; reward on its range; pairs in contact)
    and a marker line."""
    length = len(reward)
    cols = max(1, width - LABEL_W)
    out = Text(no_wrap=True, overflow="crop")
    if length == 0:
        return out.append("empty episode")
    lines = lines or trace_lines(sparsity, reward, cols, contacts)
    mark = column_of(step, length, cols)
    for i, (label, line) in enumerate(lines["lines"]):
        if i:
            out.append("\n")
        out.append(label.ljust(LABEL_W), "bold")
        out.append(line[:mark], "color(75)")
        out.append(line[mark : mark + 1] or " ", MARK_STYLE)
        out.append(line[mark + 1 :], "color(75)")
    out.append("\n")
    out.append(" " * (LABEL_W + mark) + "▲", "color(226)")
    r_lo, r_hi = lines["reward_range"]
    note = f" t={step}  reward {r_lo:.3g}..{r_hi:.3g}"
    if LABEL_W + mark + 1 + len(note) <= width:
        out.append(note, "dim")
    return out


class EpisodeTrace(Widget):
    """Sparkline trace of the loaded episode with the current step marked."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._sparsity: np.ndarray | None = None
        self._reward: np.ndarray | None = None
        self._contacts: np.ndarray | None = None
        self._step = 0
        self._lines: tuple[int, dict] | None = None
        self.placeholder = "loading…"

    def set_placeholder(self, text: str) -> None:
        """What to show while there is no episode (default ``loading…``)."""
        self.placeholder = text
        self.refresh()

    def set_episode(
        self, sparsity: np.ndarray, reward: np.ndarray, contacts: np.ndarray | None = None
    ) -> None:
        """Show another episode's per-step sparsity ``(T, 3)``, reward ``(T,)`` and contact
        masks ``(T, P)`` (None: the recording has no contact data)."""
        self._sparsity, self._reward, self._step = sparsity, reward, 0
        self._contacts = contacts
        self._lines: tuple[int, dict] | None = None
        self.refresh()

    def set_step(self, step: int) -> None:
        """Move the marker to ``step``."""
        self._step = step
        self.refresh()

    def render(self) -> Text:
        if self._sparsity is None or self._reward is None:
            return Text(self.placeholder, style="italic")
        cols = max(1, self.size.width - LABEL_W)
        if self._lines is None or self._lines[0] != cols:
            self._lines = (cols, trace_lines(self._sparsity, self._reward, cols, self._contacts))
        return render_trace(
            self._sparsity, self._reward, self._step, self.size.width, self._lines[1]
        )
