"""The strip drawn under each video frame: an episode's sparsity of J_s and J_a, step marked.

The curves, axis and legend are drawn once per episode with Matplotlib's Agg canvas (no
pyplot state, so it is safe in any thread); each frame then only copies that image and
draws the current step's marker, so a frame costs a copy, not a plot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Colours of the J_s and J_a curves, the marker and the background (RGB).
STATE_COLOR = "#4aa3ff"
ACTION_COLOR = "#ffa040"
MARKER_RGB = (255, 255, 255)
BACKGROUND = "#14171c"
TEXT_COLOR = "#d0d0d0"


@dataclass(frozen=True)
class SparsityStrip:
    """An episode's sparsity plot as an image, and where each step lies on it.

    ``image`` is (height, width, 3) uint8; ``columns[t]`` is the pixel column of step t;
    ``rows`` (top, bottom) are the pixel rows of sparsity 1 and 0.
    """

    image: np.ndarray
    columns: np.ndarray
    rows: tuple[int, int]

    @property
    def steps(self) -> int:
        return int(self.columns.shape[0])

    def row_of(self, sparsity: float) -> int:
        """Pixel row of a sparsity value in [0, 1]."""
        top, bottom = self.rows
        return int(round(bottom + (top - bottom) * float(sparsity)))

    def at(self, t: int) -> np.ndarray:
        """The strip with step ``t`` marked: a 1-pixel vertical line over the plot area."""
        if not 0 <= t < self.steps:
            raise IndexError(f"step {t} outside 0..{self.steps - 1}")
        out = self.image.copy()
        top, bottom = self.rows
        out[top : bottom + 1, self.columns[t]] = MARKER_RGB
        return out


def strip_height(width: int) -> int:
    """Height of the strip under a frame ``width`` pixels wide: a quarter, 64 at least, even."""
    return max(64, (width // 4) // 2 * 2)


def sparsity_strip(sparsity: np.ndarray, width: int, height: int) -> SparsityStrip:
    """Draw ``sparsity`` (T, 3) [state, action, combined] of an episode as a strip.

    Non-finite steps (NaN sparsity) leave gaps in the curves.
    """
    from jacwrap._extras import require

    require("render", "matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sp = np.asarray(sparsity, dtype=np.float64)
    if sp.ndim != 2 or sp.shape[0] < 1 or sp.shape[1] < 2:
        raise ValueError(f"sparsity must be (T, 3) with T >= 1, got {sp.shape}")
    steps = sp.shape[0]
    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor=BACKGROUND)
    canvas = FigureCanvasAgg(fig)
    left, right = 22 / width, 1 - 12 / width
    bottom, top = 13 / height, 1 - 15 / height  # the legend row above the plot
    ax = fig.add_axes((left, bottom, right - left, top - bottom), facecolor=BACKGROUND)
    t = np.arange(steps)
    ax.plot(t, sp[:, 0], color=STATE_COLOR, lw=1.2, label="J_s")
    ax.plot(t, sp[:, 1], color=ACTION_COLOR, lw=1.2, label="J_a")
    ax.set_xlim(-0.5, steps - 0.5)
    ax.set_ylim(-0.06, 1.06)  # curves at 0 or 1 stay clear of the frame
    ax.set_yticks([0.0, 1.0], ["0", "1"])
    ax.set_xticks([0, steps - 1], ["0", str(steps - 1)])
    ax.tick_params(labelsize=7, colors=TEXT_COLOR, length=2, pad=1)
    for spine in ax.spines.values():
        spine.set_color("#5a5f66")
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        fontsize=7,
        frameon=False,
        ncols=2,
        labelcolor=TEXT_COLOR,
        handlelength=1.2,
        borderaxespad=0.0,
        borderpad=0.1,
    )
    fig.text(
        1 - 8 / width,
        1 - 2 / height,
        "sparsity, step marked",
        color=TEXT_COLOR,
        fontsize=7,
        ha="right",
        va="top",
    )
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[:, :, :3].copy()
    xy = ax.transData.transform(np.column_stack([t, np.zeros(steps)]))
    columns = np.clip(np.round(xy[:, 0]).astype(np.int64), 0, width - 1)
    y1, y0 = ax.transData.transform([[0, 1.0], [0, 0.0]])[:, 1]
    rows = (int(round(height - y1)), int(round(height - y0)) - 1)
    return SparsityStrip(image=image, columns=columns, rows=rows)
