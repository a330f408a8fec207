"""What each unit of ``jacwrap reproduce`` costs: the measured table the plan is built on.

One row per task, measured on this project's 2-core, no-GPU machine with
``python -m jacwrap.reproduce.measure`` (see that module and BENCHMARKS.md, section
*jacwrap reproduce*), at the default budget's shard shape: the shipped expert policy, a batch
of 16 envs over 2 worker processes, float64 Jacobians written losslessly. Each cost is a
line fitted through two sizes: a start-up (seconds) and a slope (seconds per 100k steps, or
per 100k training sample-epochs for fits). Fits were measured with ``jacobian_batch=64``;
a Jacobian term on more samples of a batch costs proportionally more (see
:func:`fit_seconds`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskCost:
    """Measured costs of one task (seconds; ``*_per_100k`` per 100,000 steps or samples)."""

    record_start_s: float
    record_s_per_100k: float
    bytes_per_step: float
    fit_start_s: float
    fit_state_s_per_100k: float
    fit_jac_start_s: float
    fit_jac_s_per_100k: float
    analysis_start_s: float
    analysis_s_per_100k: float


#: Measured seconds per task (see the module docstring); the plan's only source of estimates.
MEASURED: dict[str, TaskCost] = {
    "BallInCup": TaskCost(20.0, 600.0, 900, 3.0, 30.0, 3.0, 120.0, 2.0, 5.0),
    "CartpoleBalance": TaskCost(10.0, 20.0, 400, 3.0, 30.0, 3.0, 120.0, 2.0, 5.0),
    "CheetahRun": TaskCost(20.0, 400.0, 3100, 3.0, 30.0, 3.0, 120.0, 2.0, 5.0),
    "ReacherHard": TaskCost(15.0, 100.0, 400, 3.0, 30.0, 3.0, 120.0, 2.0, 5.0),
    "FingerSpin": TaskCost(20.0, 300.0, 600, 3.0, 30.0, 3.0, 120.0, 2.0, 5.0),
    "FingerTurnEasy": TaskCost(20.0, 300.0, 600, 3.0, 30.0, 3.0, 120.0, 2.0, 5.0),
    "WalkerRun": TaskCost(25.0, 1500.0, 3100, 3.0, 30.0, 3.0, 120.0, 2.0, 5.0),
    "SwimmerSwimmer6": TaskCost(25.0, 2000.0, 2600, 3.0, 30.0, 3.0, 120.0, 2.0, 5.0),
}

#: Costs assumed for a task without a measured row (the slowest measured one's).
UNMEASURED = max(MEASURED.values(), key=lambda c: c.record_s_per_100k)

#: Size of one saved fit: the model (.npz, 2x512 float32 MLP) and its summary (.json), bytes.
FIT_BYTES = 1_300_000

#: The batch of the Jacobian term the fit costs were measured at.
MEASURED_JACOBIAN_BATCH = 64


def task_cost(task: str) -> TaskCost:
    """The measured row of ``task`` (the slowest row for a task that was not measured)."""
    return MEASURED.get(task, UNMEASURED)


def record_seconds(task: str, steps: int) -> float:
    """Estimated wall time of recording ``steps`` steps of ``task`` in one shard."""
    c = task_cost(task)
    return c.record_start_s + c.record_s_per_100k * steps / 100_000


def analysis_seconds(task: str, steps: int) -> float:
    """Estimated wall time of the Q1-Q3 analysis of ``steps`` steps (no t-SNE)."""
    c = task_cost(task)
    return c.analysis_start_s + c.analysis_s_per_100k * steps / 100_000


def fit_seconds(
    task: str, samples: int, epochs: int, jacobian: bool, jacobian_batch: int | None, batch: int
) -> float:
    """Estimated wall time of one fit: ``epochs`` over the 90 % training part of ``samples``."""
    c = task_cost(task)
    sample_epochs = 0.9 * samples * epochs / 100_000
    if not jacobian:
        return c.fit_start_s + c.fit_state_s_per_100k * sample_epochs
    share = min(jacobian_batch or batch, batch) / MEASURED_JACOBIAN_BATCH
    jac = (c.fit_jac_s_per_100k - c.fit_state_s_per_100k) * share
    return c.fit_jac_start_s + (c.fit_state_s_per_100k + jac) * sample_epochs
