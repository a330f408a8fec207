"""Heatmap of one step's [J_s | J_a]: labels, zero glyphs, log colour scale, a cursor.

Rows are next-state variables, columns the current state (J_s) then action (J_a)
variables. Zero cells (the recording's own masks, at its threshold) are a grey ``·``;
non-zero cells are coloured by log10|J| on a fixed ramp of xterm-256 colours, so the
colours mean the same at every step and in a 256-colour terminal. The rendering is a
pure function of arrays (:func:`render_heatmap`); the widget only holds the inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

#: xterm-256 colour ramp, dark blue (small |J|) -> red (large |J|): two colours a decade.
RAMP = (19, 21, 27, 33, 39, 45, 51, 49, 47, 46, 82, 118, 154, 190, 226, 220, 214, 208, 202, 196)
#: log10|J| mapped onto the ramp (values outside are clamped to its ends).
LOG_MIN, LOG_MAX = -8.0, 2.0
ZERO_GLYPH = "·"
ZERO_STYLE = Style(color="color(244)")
NONFINITE_STYLE = Style(color="color(201)", bold=True)
CURSOR_ZERO_STYLE = Style(color="color(226)", bgcolor="color(238)", bold=True)
LABEL_STYLE = Style(color="color(250)")
CURSOR_LABEL_STYLE = Style(color="color(226)", bold=True)


def ramp_index(value: float) -> int:
    """Index into :data:`RAMP` of a non-zero finite value's magnitude (log scale, clamped)."""
    lg = math.log10(abs(value)) if value != 0 else LOG_MIN
    frac = (min(max(lg, LOG_MIN), LOG_MAX) - LOG_MIN) / (LOG_MAX - LOG_MIN)
    return min(len(RAMP) - 1, int(frac * len(RAMP)))


def variable_codes(
    state_labels: list[str], action_labels: list[str]
) -> tuple[list[str], list[str]]:
    """Short codes of the state and action variables: ``p0..`` (qpos), ``v0..`` (qvel), ``a0..``.

    Labels that are not ``qpos:``/``qvel:`` are coded ``s<index>``.
    """
    counts = {"p": 0, "v": 0}
    state = []
    for j, label in enumerate(state_labels):
        kind = {"qpos": "p", "qvel": "v"}.get(label.split(":", 1)[0])
        if kind is None:
            state.append(f"s{j}")
        else:
            state.append(f"{kind}{counts[kind]}")
            counts[kind] += 1
    return state, [f"a{k}" for k in range(len(action_labels))]


def variable_name(label: str) -> str:
    """The part of a label after its ``qpos:``/``qvel:``/``act:`` prefix."""
    return label.split(":", 1)[1] if ":" in label else label


@dataclass(frozen=True)
class HeatmapData:
    """One step's Jacobians, the recording's zero masks for them, and the variable labels."""

    jac_state: np.ndarray  # (n, n)
    jac_action: np.ndarray  # (n, m)
    zero_state: np.ndarray  # (n, n) bool
    zero_action: np.ndarray  # (n, m) bool
    state_labels: list[str]
    action_labels: list[str]

    @property
    def n(self) -> int:
        return self.jac_state.shape[0]

    @property
    def m(self) -> int:
        return self.jac_action.shape[1]

    def cell(self, row: int, col: int) -> tuple[str, float, bool]:
        """(matrix name, value, is_zero) of combined column ``col`` (J_s first, then J_a)."""
        if col < self.n:
            return "J_s", float(self.jac_state[row, col]), bool(self.zero_state[row, col])
        k = col - self.n
        return "J_a", float(self.jac_action[row, k]), bool(self.zero_action[row, k])


def _scroll(offset: int, cursor: int, visible: int, total: int) -> int:
    """A scroll offset that keeps ``cursor`` within ``visible`` of ``total`` items."""
    visible = max(1, visible)
    if cursor < offset:
        offset = cursor
    elif cursor >= offset + visible:
        offset = cursor - visible + 1
    return max(0, min(offset, max(0, total - visible)))


def legend() -> Text:
    """The colour scale: zero glyph, then the ramp from 10^LOG_MIN to 10^LOG_MAX."""
    text = Text()
    text.append(ZERO_GLYPH, ZERO_STYLE)
    text.append("=0 ")
    text.append(f"1e{int(LOG_MIN)}")
    for code in RAMP[::2]:
        text.append(" ", Style(bgcolor=f"color({code})"))
    text.append(f"1e+{int(LOG_MAX)}" if LOG_MAX >= 0 else f"1e{int(LOG_MAX)}")
    return text


def render_heatmap(
    data: HeatmapData,
    cursor: tuple[int, int],
    width: int,
    height: int,
    offset: tuple[int, int] = (0, 0),
) -> tuple[Text, tuple[int, int]]:
    """Render [J_s | J_a] into ``width`` x ``height`` cells; returns (text, new scroll offset).

    Cells are 3 characters wide when they fit, else 2. Rows and columns that do not fit
    scroll so that the cursor (row, combined column) stays visible.
    """
    n, m = data.n, data.m
    ncols = n + m
    s_codes, a_codes = variable_codes(data.state_labels, data.action_labels)
    codes = s_codes + a_codes
    row_labels = [
        f"{c} {variable_name(lab)}" for c, lab in zip(s_codes, data.state_labels, strict=True)
    ]
    label_w = min(max(len(r) for r in row_labels), 12) + 1 if row_labels else 1
    sep = 1 if m else 0
    cw = 3 if label_w + ncols * 3 + sep <= width else 2
    two_row_header = max(len(c) for c in codes) > cw - 1
    header_lines = 2 if two_row_header else 1
    vis_rows = max(1, height - 1 - header_lines)
    vis_cols = max(1, (width - label_w - sep) // cw)
    r0 = _scroll(offset[0], cursor[0], vis_rows, n)
    c0 = _scroll(offset[1], cursor[1], vis_cols, ncols)
    cols = range(c0, min(ncols, c0 + vis_cols))
    rows = range(r0, min(n, r0 + vis_rows))

    def col_sep(c: int) -> str:
        return "│" if (c == n and m and c != c0) else ""

    # Title line: which block is which, clipping notes, the colour legend.
    title = Text("J_s│J_a" if m else "J_s", style="bold")
    if len(rows) < n or len(cols) < ncols:
        title.append(f" r{r0}-{rows[-1]} c{c0}-{cols[-1]}", style="italic")
    title.append("  ")
    title.append_text(legend())
    lines = [title]
    # Column header(s).
    if two_row_header:
        header = [Text(" " * label_w), Text(" " * label_w)]
        for c in cols:
            style = CURSOR_LABEL_STYLE if c == cursor[1] else LABEL_STYLE
            s = col_sep(c)
            header[0].append(s + codes[c][0].ljust(cw), style)
            header[1].append(s + codes[c][1:].ljust(cw)[:cw], style)
    else:
        header = [Text(" " * label_w)]
        for c in cols:
            style = CURSOR_LABEL_STYLE if c == cursor[1] else LABEL_STYLE
            header[0].append(col_sep(c) + codes[c].ljust(cw), style)
    lines.extend(header)
    # Body.
    for r in rows:
        label_style = CURSOR_LABEL_STYLE if r == cursor[0] else LABEL_STYLE
        line = Text(row_labels[r][: label_w - 1].ljust(label_w), label_style)
        for c in cols:
            s = col_sep(c)
            if s:
                line.append(s, LABEL_STYLE)
            _, value, is_zero = data.cell(r, c)
            line.append_text(_cell(value, is_zero, cw, (r, c) == tuple(cursor)))
        lines.append(line)
    for line in lines:
        line.truncate(width)
    out = Text("\n", no_wrap=True, overflow="crop").join(lines)
    return out, (r0, c0)


def _cell(value: float, is_zero: bool, cw: int, is_cursor: bool) -> Text:
    if not math.isfinite(value):
        return Text(
            "!".ljust(cw),
            NONFINITE_STYLE if not is_cursor else NONFINITE_STYLE + Style(reverse=True),
        )
    if is_zero:
        if is_cursor:
            return Text(("[" + ZERO_GLYPH + "]")[:cw] if cw == 3 else "[]", CURSOR_ZERO_STYLE)
        return Text(ZERO_GLYPH.center(cw), ZERO_STYLE)
    idx = ramp_index(value)
    bg = f"color({RAMP[idx]})"
    if is_cursor:
        fg = "color(231)" if idx < 8 else "color(16)"
        return Text("[ ]" if cw == 3 else "[]", Style(color=fg, bgcolor=bg, bold=True))
    return Text(" " * cw, Style(bgcolor=bg))


def format_value(value: float) -> str:
    """A Jacobian entry exactly (the shortest text that reads back to the same float)."""
    return repr(float(value))


class JacobianHeatmap(Widget):
    """[J_s | J_a] of the current step with a movable cursor (see :func:`render_heatmap`)."""

    cursor: reactive[tuple[int, int]] = reactive((0, 0))

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data: HeatmapData | None = None
        self._offset = (0, 0)

    def set_data(self, data: HeatmapData | None) -> None:
        """Show another step's Jacobians (``None``: nothing loaded yet)."""
        self.data = data
        if data is not None:
            r, c = self.cursor
            self.cursor = (min(r, data.n - 1), min(c, data.n + data.m - 1))
        self.refresh()

    def move_cursor(self, drow: int, dcol: int) -> None:
        """Move the cursor by (drow, dcol), clamped to the matrix."""
        if self.data is None:
            return
        r, c = self.cursor
        self.cursor = (
            max(0, min(self.data.n - 1, r + drow)),
            max(0, min(self.data.n + self.data.m - 1, c + dcol)),
        )

    def render(self) -> Text:
        if self.data is None:
            return Text("loading…", style="italic")
        text, self._offset = render_heatmap(
            self.data, self.cursor, self.size.width, self.size.height, self._offset
        )
        return text
