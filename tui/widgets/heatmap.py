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
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.strip import Strip
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


Line = list[tuple[str, Style | None]]

_BG = [Style(bgcolor=f"color({code})") for code in RAMP]
_CURSOR = [
    Style(color="color(231)" if i < 8 else "color(16)", bgcolor=f"color({code})", bold=True)
    for i, code in enumerate(RAMP)
]
_NONFINITE_CURSOR = NONFINITE_STYLE + Style(reverse=True)
_BOLD = Style(bold=True)
_ITALIC = Style(italic=True)


def ramp_indices(values: np.ndarray) -> np.ndarray:
    """:func:`ramp_index` of every entry of an array (any finite values)."""
    with np.errstate(divide="ignore"):
        lg = np.log10(np.abs(values))
    lg = np.clip(np.where(np.isfinite(lg), lg, LOG_MIN), LOG_MIN, LOG_MAX)
    idx = ((lg - LOG_MIN) / (LOG_MAX - LOG_MIN) * len(RAMP)).astype(np.int64)
    return np.minimum(idx, len(RAMP) - 1)


def heatmap_lines(
    data: HeatmapData,
    cursor: tuple[int, int],
    width: int,
    height: int,
    offset: tuple[int, int] = (0, 0),
) -> tuple[list[Line], tuple[int, int]]:
    """[J_s | J_a] as lines of (text, style) pieces for ``width`` x ``height`` cells.

    Returns the lines and the new scroll offset. Cells are 3 characters wide when they fit,
    else 2. Rows and columns that do not fit scroll so that the cursor (row, combined
    column) stays visible. Lines may be longer than ``width`` (callers crop).
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
    cur_r, cur_c = cursor

    def col_sep(c: int) -> str:
        return "│" if (c == n and m and c != c0) else ""

    # Title line: which block is which, clipping notes, the colour legend.
    title: Line = [("J_s│J_a" if m else "J_s", _BOLD)]
    if len(rows) < n or len(cols) < ncols:
        title.append((f" r{r0}-{rows[-1]} c{c0}-{cols[-1]}", _ITALIC))
    title += [("  ", None), (ZERO_GLYPH, ZERO_STYLE), (f"=0 1e{int(LOG_MIN)}", None)]
    title += [(" ", _BG[i]) for i in range(0, len(RAMP), 2)]
    title.append((f"1e+{int(LOG_MAX)}" if LOG_MAX >= 0 else f"1e{int(LOG_MAX)}", None))
    lines = [title]
    # Column header(s).
    header: list[Line] = [[(" " * label_w, None)] for _ in range(header_lines)]
    for c in cols:
        style = CURSOR_LABEL_STYLE if c == cur_c else LABEL_STYLE
        s = col_sep(c)
        if two_row_header:
            header[0].append((s + codes[c][0].ljust(cw), style))
            header[1].append((s + codes[c][1:].ljust(cw)[:cw], style))
        else:
            header[0].append((s + codes[c].ljust(cw), style))
    lines.extend(header)
    # Body: values and masks of the visible block, colour indices computed at once.
    values = np.concatenate([data.jac_state, data.jac_action], axis=1)
    zeros = np.concatenate([data.zero_state, data.zero_action], axis=1)
    finite = np.isfinite(values)
    ramp = ramp_indices(np.where(finite, values, 1.0))
    blank, dot = " " * cw, ZERO_GLYPH.center(cw)
    bracket = "[ ]" if cw == 3 else "[]"
    zero_bracket = "[" + ZERO_GLYPH + "]" if cw == 3 else "[]"
    bang = "!".ljust(cw)
    for r in rows:
        line: Line = [
            (
                row_labels[r][: label_w - 1].ljust(label_w),
                CURSOR_LABEL_STYLE if r == cur_r else LABEL_STYLE,
            )
        ]
        for c in cols:
            if c == n and m and c != c0:
                line.append(("│", LABEL_STYLE))
            at = r == cur_r and c == cur_c
            if not finite[r, c]:
                line.append((bang, _NONFINITE_CURSOR if at else NONFINITE_STYLE))
            elif zeros[r, c]:
                line.append((zero_bracket, CURSOR_ZERO_STYLE) if at else (dot, ZERO_STYLE))
            else:
                k = ramp[r, c]
                line.append((bracket, _CURSOR[k]) if at else (blank, _BG[k]))
        lines.append(line)
    return lines, (r0, c0)


def render_heatmap(
    data: HeatmapData,
    cursor: tuple[int, int],
    width: int,
    height: int,
    offset: tuple[int, int] = (0, 0),
) -> tuple[Text, tuple[int, int]]:
    """:func:`heatmap_lines` as one Rich ``Text`` cropped to ``width``; and the new offset."""
    lines, offset = heatmap_lines(data, cursor, width, height, offset)
    texts = []
    for line in lines:
        text = Text()
        for piece, style in line:
            text.append(piece, style)
        text.truncate(width)
        texts.append(text)
    return Text("\n", no_wrap=True, overflow="crop").join(texts), offset


def format_value(value: float) -> str:
    """A Jacobian entry exactly (the shortest text that reads back to the same float)."""
    return repr(float(value))


class JacobianHeatmap(Widget):
    """[J_s | J_a] of the current step with a movable cursor (see :func:`heatmap_lines`).

    Drawn with Textual's line API (pre-built styles, no markup or Rich ``Text``), so a
    CheetahRun-sized matrix costs little per frame.
    """

    cursor: reactive[tuple[int, int]] = reactive((0, 0))

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data: HeatmapData | None = None
        self._offset = (0, 0)
        self._strips: list[Strip] | None = None
        self.placeholder = "loading…"

    def set_placeholder(self, text: str) -> None:
        """What to show while there is no data (default ``loading…``)."""
        self.placeholder, self._strips = text, None
        self.refresh()

    def set_data(self, data: HeatmapData | None) -> None:
        """Show another step's Jacobians (``None``: nothing loaded yet)."""
        self.data = data
        if data is not None:
            r, c = self.cursor
            self.cursor = (min(r, data.n - 1), min(c, data.n + data.m - 1))
        self._strips = None
        self.refresh()

    def watch_cursor(self) -> None:
        self._strips = None

    def on_resize(self) -> None:
        self._strips = None

    def move_cursor(self, drow: int, dcol: int) -> None:
        """Move the cursor by (drow, dcol), clamped to the matrix."""
        if self.data is None:
            return
        r, c = self.cursor
        self.cursor = (
            max(0, min(self.data.n - 1, r + drow)),
            max(0, min(self.data.n + self.data.m - 1, c + dcol)),
        )

    def _build(self) -> list[Strip]:
        width, height = self.size.width, self.size.height
        base = self.rich_style
        if self.data is None:
            lines: list[Line] = [[(self.placeholder, _ITALIC)]]
        else:
            lines, self._offset = heatmap_lines(self.data, self.cursor, width, height, self._offset)
        strips = []
        for line in lines:
            segments = [Segment(text, base + style if style else base) for text, style in line]
            strips.append(Strip(segments).crop(0, width).adjust_cell_length(width, base))
        return strips

    def render_line(self, y: int) -> Strip:
        if self._strips is None:
            self._strips = self._build()
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.rich_style)

    def text(self) -> str:
        """What the widget shows, as plain text (one line per row)."""
        if self._strips is None:
            self._strips = self._build()
        return "\n".join(strip.text.rstrip() for strip in self._strips)
