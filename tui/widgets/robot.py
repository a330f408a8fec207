"""The robot view: the current step's pose as character pixels (two pixels a cell).

Each cell is an upper half block ``▀`` whose foreground is the upper pixel and whose
background is the lower one, so a W x H panel shows a W x 2H image in any terminal with
colours (Textual reduces the colours to what the terminal has, 256 over SSH).

The frame's lines are built off the UI thread (:func:`half_blocks`, in the app's worker)
and the widget only hands them out (Textual's line API), so a frame costs playback
almost nothing. Channels keep their top 5 bits: on a 256-colour terminal nothing shows,
and neighbouring cells share a colour (and a segment) far more often, which made building
a 34x85-pixel frame 4x faster (MuJoCo's skybox is speckled).
"""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

HALF_BLOCK = "▀"

#: Mask applied to every channel before drawing (keeps the top 5 bits).
CHANNEL_MASK = 0xF8


def half_blocks(image: np.ndarray) -> list[Strip]:
    """An (H, W, 3) uint8 image as ``ceil(H / 2)`` lines of W half-block cells.

    Channels are masked with :data:`CHANNEL_MASK`; neighbouring cells with the same two
    colours share one segment; an odd last row gets a black lower half.
    """
    img = np.asarray(image, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got {img.shape}")
    img = img & CHANNEL_MASK
    if img.shape[0] % 2:
        img = np.concatenate([img, np.zeros((1, *img.shape[1:]), np.uint8)])
    pairs = np.ascontiguousarray(np.concatenate([img[0::2], img[1::2]], axis=2))  # (rows, W, 6)
    width = pairs.shape[1]
    styles: dict[bytes, Style] = {}
    lines = []
    for row in pairs:
        change = (np.flatnonzero(np.any(row[1:] != row[:-1], axis=1)) + 1).tolist()
        segments = []
        for a, b in zip([0, *change], [*change, width], strict=True):
            key = row[a].tobytes()
            style = styles.get(key)
            if style is None:
                t, u = row[a, :3].tolist(), row[a, 3:].tolist()
                style = Style(color=Color.from_rgb(*t), bgcolor=Color.from_rgb(*u))
                styles[key] = style
            segments.append(Segment(HALF_BLOCK * (b - a), style))
        lines.append(Strip(segments, width))
    return lines


class RobotView(Widget):
    """Shows the lines of a rendered frame (:func:`half_blocks`); blank until the first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[Strip] = []

    def pixel_size(self) -> tuple[int, int]:
        """(width, height) in pixels of a frame that fills the panel: two pixels a row."""
        size = self.content_size
        return max(size.width, 8), 2 * max(size.height, 4)

    def show_lines(self, lines: list[Strip]) -> None:
        self.lines = lines
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y < len(self.lines):
            return self.lines[y].crop(0, width)
        return Strip.blank(width)
