"""What each unit of ``jacwrap reproduce`` costs: the table the plan is built on.

One row per task; seconds on this project's 2-core, no-GPU machine with a warm compile
cache, for the default-budget shard shape (the shipped expert policy, 16 envs over 2 worker
processes, float64 Jacobians written losslessly). Each cost is a start-up (seconds) and a
slope (seconds per 100k recorded steps, or per 100k training sample-epochs for fits; fits
with ``jacobian_batch=64``, see :func:`fit_seconds` for other values). BENCHMARKS.md,
section *jacwrap reproduce*, has the measurements behind every number. How each column was
obtained (the machine ran at load 9-15 from other sessions all through the measurement, so
wall times measured other jobs more than jacwrap):

* fits and analysis: ``python -m jacwrap.reproduce.measure`` on CartpoleBalance,
  ReacherHard and CheetahRun, timed by CPU time (XLA runs these on one thread, so CPU time
  is the idle machine's wall time, BENCHMARKS.md *MLP fits*); the other tasks interpolated
  by state size n (the Jacobian term's cost grows with n): n = 6-8 between ReacherHard and
  CheetahRun, n = 16-18 as CheetahRun.
* recording slopes: the quiet-machine Jacobian-step throughputs of BENCHMARKS.md
  (CartpoleBalance 49,795/s in one process, CheetahRun 2,590/s with 2 workers,
  SwimmerSwimmer6 310/s in one process, so ~600/s with 2) plus 5 s per 100k steps for the
  policy, the transfers and the writer. The 10-substep tasks without a quiet measurement
  (BallInCup, WalkerRun) are given SwimmerSwimmer6's cost (WalkerRun scaled by its 24 vs 21
  tangents), the 4-substep ones (ReacherHard, FingerSpin, FingerTurnEasy) 0.4 of it. The
  CPU times ``measure`` took for recordings under that load were 10-20x these (spinning
  thread pools and cache contention), so they were not used.
* recording start-up: the warm-cache time to the first Jacobian step in a fresh process
  (BENCHMARKS.md: CartpoleBalance 8.8 s, CheetahRun 13.8 s, SwimmerSwimmer6 10.9 s; 12 s for
  the others). A first run on a machine compiles too: 5-15 s more per task.

The progress display's ETA rescales these by how the finished units compared with them.
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


#: Seconds per task (see the module docstring): TaskCost(record start, record s/100k steps,
#: bytes per step, fit start, fit s/100k sample-epochs without / with the Jacobian term
#: (start, slope), analysis start, analysis s/100k steps).
MEASURED: dict[str, TaskCost] = {
    "BallInCup": TaskCost(12.0, 172.0, 850, 6.0, 10.0, 3.5, 15.0, 2.0, 2.5),
    "CartpoleBalance": TaskCost(8.8, 6.5, 128, 4.5, 3.5, 2.0, 8.3, 1.6, 1.1),
    "CheetahRun": TaskCost(13.8, 43.6, 3036, 7.7, 16.7, 5.3, 24.2, 2.8, 4.5),
    "ReacherHard": TaskCost(12.0, 71.0, 207, 1.8, 4.3, 1.8, 6.2, 0.9, 0.6),
    "FingerSpin": TaskCost(12.0, 71.0, 550, 5.0, 8.0, 3.0, 12.0, 2.0, 2.0),
    "FingerTurnEasy": TaskCost(12.0, 71.0, 550, 5.0, 8.0, 3.0, 12.0, 2.0, 2.0),
    "WalkerRun": TaskCost(12.0, 196.0, 3036, 7.7, 16.7, 5.3, 24.2, 2.8, 4.5),
    "SwimmerSwimmer6": TaskCost(10.9, 172.0, 2450, 7.7, 16.7, 5.3, 24.2, 2.8, 4.5),
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
