"""The one progress display of a run: a line per unit started and finished, with the run's
units done, recording speed (steps/s) and an ETA.

The ETA is the plan's estimate of the units still to run, scaled by how the finished units
of this session compared with their estimates (a busier or faster machine than the measured
one shows up after the first units).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from jacwrap.reproduce.plan import Plan, fmt_seconds
from jacwrap.reproduce.units import Unit, UnitResult


def _rate(steps: float, seconds: float) -> str:
    r = steps / seconds if seconds > 0 else 0.0
    return f"{r:,.0f}" if r >= 10 else f"{r:.2g}"


class Progress:
    """Counts finished units against the plan and prints one line per event to ``stream``."""

    def __init__(self, plan: Plan, pending: list[Unit], stream: TextIO | None = None):
        self.plan = plan
        self.stream = stream if stream is not None else sys.stderr
        self.total = len(plan.units)
        self.done = self.total - len(pending)
        self.left = {u.id for u in pending}
        self.t0 = time.perf_counter()
        self.actual = 0.0  # seconds of units finished this session
        self.estimated = 0.0  # their estimates
        self.steps = 0
        self.record_s = 0.0

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    @property
    def eta_s(self) -> float:
        """Estimated seconds left: remaining estimates x (actual / estimated so far)."""
        scale = self.actual / self.estimated if self.estimated > 0 else 1.0
        return scale * sum(self.plan.estimates[u] for u in self.left)

    def start(self, unit: Unit) -> None:
        self._print(f"[{self.done}/{self.total}] {unit.id} ... "
                    f"(estimate {fmt_seconds(self.plan.estimates[unit.id])})")  # fmt: skip

    def finish(self, unit: Unit, result: UnitResult) -> None:
        self.done += 1
        self.left.discard(unit.id)
        self.actual += result.seconds
        self.estimated += self.plan.estimates[unit.id]
        speed = ""
        if result.steps:
            self.steps += result.steps
            self.record_s += result.seconds
            speed = f", {_rate(result.steps, result.seconds)} steps/s"
        self._print(
            f"[{self.done}/{self.total}] {unit.id} done in {fmt_seconds(result.seconds)}{speed}"
            f" | recording {_rate(self.steps, self.record_s)} steps/s, elapsed "
            f"{fmt_seconds(time.perf_counter() - self.t0)}, ETA {fmt_seconds(self.eta_s)}"
        )
