"""Playback position and speed: pure functions, no Textual.

The position is a step ``t`` within the current episode (0 .. length-1). Speeds are a
fixed ladder of steps per second; the app's timer ticks at most ``MAX_TICK_HZ`` times a
second and advances ``steps_per_tick`` steps on each tick.
"""

from __future__ import annotations

import math
import re

#: Playback speeds in steps per second (the ``+``/``-`` keys move along this ladder).
SPEEDS = (1, 2, 5, 10, 20, 30, 60, 120, 240)
DEFAULT_SPEED_INDEX = SPEEDS.index(10)
#: The UI redraws at most this often while playing.
MAX_TICK_HZ = 30


class SeekError(ValueError):
    """A seek target that is neither a step number nor a percentage (message says why)."""


def clamp_step(t: int, length: int) -> int:
    """``t`` limited to a valid step of an episode of ``length`` steps (0 when empty)."""
    if length <= 0:
        return 0
    return max(0, min(int(t), length - 1))


def parse_seek(text: str, length: int) -> int:
    """The step that ``text`` names in an episode of ``length`` steps.

    ``"37"`` is step 37; ``"50%"`` is the step at that fraction of the episode
    (``round(p/100 * (length-1))``); both are clamped to the episode. Raises
    :class:`SeekError` for anything else.
    """
    s = text.strip()
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]*)?)\s*%", s)
    if m:
        pct = float(m.group(1))
        if not math.isfinite(pct) or pct > 100:
            raise SeekError(f"percentage {s!r} is not between 0% and 100%")
        return clamp_step(round(pct / 100 * (length - 1)), length)
    if re.fullmatch(r"[0-9]+", s):
        step = int(s)
        if step >= length:
            raise SeekError(f"step {step} is past the episode's last step {length - 1}")
        return step
    raise SeekError(f"{text!r} is not a step number (e.g. 37) or a percentage (e.g. 50%)")


def tick_plan(speed: float) -> tuple[float, int]:
    """(timer interval in seconds, steps to advance per tick) for ``speed`` steps/s."""
    if speed <= MAX_TICK_HZ:
        return 1.0 / speed, 1
    per_tick = math.ceil(speed / MAX_TICK_HZ)
    return per_tick / speed, per_tick


def playback_target(anchor_step: int, elapsed_s: float, speed: float) -> int:
    """The step due ``elapsed_s`` seconds after playing from ``anchor_step`` at ``speed``.

    Playback follows the wall clock, so a late redraw skips a step instead of slowing down.
    Steps fall due half-way between their nominal times, so a timer that ticks at the step
    rate with a little jitter shows every step once.
    """
    return anchor_step + int(math.floor(max(elapsed_s, 0.0) * speed + 0.5))


def change_speed(index: int, delta: int) -> int:
    """The speed index ``delta`` rungs up or down the :data:`SPEEDS` ladder (clamped)."""
    return max(0, min(len(SPEEDS) - 1, index + delta))
