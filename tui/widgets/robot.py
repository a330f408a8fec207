"""The robot view: the current step's pose as character pixels (two pixels a cell).

Each cell is an upper half block ``▀`` whose foreground is the upper pixel and whose
background is the lower one, so a W x H panel shows a W x 2H image in any terminal with
colours (Textual reduces the colours to what the terminal has, 256 over SSH).
"""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

HALF_BLOCK = "▀"


def half_blocks(image: np.ndarray) -> Text:
    """An (H, W, 3) uint8 image as ``ceil(H / 2)`` lines of W half-block cells.

    Neighbouring cells with the same two colours share one span. An odd last row gets a
    black lower half.
    """
    img = np.asarray(image, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got {img.shape}")
    if img.shape[0] % 2:
        img = np.concatenate([img, np.zeros((1, *img.shape[1:]), np.uint8)])
    top, bottom = img[0::2], img[1::2]
    pairs = np.concatenate([top, bottom], axis=2)  # (rows, W, 6)
    styles: dict[bytes, Style] = {}
    text = Text(no_wrap=True, overflow="crop", end="")
    width = pairs.shape[1]
    for r, row in enumerate(pairs):
        if r:
            text.append("\n")
        # cells where the colour pair changes start a new span
        change = np.flatnonzero(np.any(row[1:] != row[:-1], axis=1)) + 1
        starts = np.concatenate([[0], change])
        stops = np.concatenate([change, [width]])
        for a, b in zip(starts, stops, strict=True):
            key = row[a].tobytes()
            style = styles.get(key)
            if style is None:
                t, u = row[a, :3], row[a, 3:]
                style = Style(
                    color=Color.from_rgb(int(t[0]), int(t[1]), int(t[2])),
                    bgcolor=Color.from_rgb(int(u[0]), int(u[1]), int(u[2])),
                )
                styles[key] = style
            text.append(HALF_BLOCK * int(b - a), style)
    return text


class RobotView(Static):
    """Shows a rendered frame (:func:`half_blocks`) or a one-paragraph message."""

    def pixel_size(self) -> tuple[int, int]:
        """(width, height) in pixels of a frame that fills the panel: two pixels a row."""
        size = self.content_size
        return max(size.width, 8), 2 * max(size.height, 4)

    def show_text(self, text: Text) -> None:
        self.update(text, layout=False)

    def show_message(self, message: str) -> None:
        self.update(Text(message, style="italic"))
