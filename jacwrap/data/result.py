"""What an export reports back, and the progress bar both exporters show."""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class ExportResult:
    """``outputs``: the Parquet files written, or the Minari dataset ids; ``steps`` and
    ``episodes`` exported; ``bytes`` on disk; ``seconds`` of wall time."""

    outputs: tuple[str, ...]
    steps: int
    episodes: int
    bytes: int
    seconds: float

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("inf")

    @property
    def bytes_per_step(self) -> float:
        return self.bytes / self.steps if self.steps else float("nan")


def progress(total: int, desc: str, enabled: bool):
    """A tqdm bar over ``total`` steps on stderr (a silent one when not ``enabled``)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="step",
        unit_scale=True,
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
    )
