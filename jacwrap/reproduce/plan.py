"""The settings of a reproduction run and the plan they give: units, time, disk.

:class:`ReproduceConfig` holds every setting that shapes the results (the manifest stores
it; ``--resume`` requires the same); :func:`build_plan` splits the run into units
(:mod:`jacwrap.reproduce.units`) and estimates each one's wall time from the measured table
in :mod:`jacwrap.reproduce.costs`; :func:`format_plan` is what the command prints first.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from jacwrap.envs import PAPER_ENVS, available_envs
from jacwrap.errors import UnknownEnvError
from jacwrap.fit.losses import LOSS_MODES, needs_jacobian
from jacwrap.reproduce import costs
from jacwrap.reproduce.units import AnalysisUnit, FitUnit, RecordUnit, Unit

#: The paper's scale: 1 M recorded steps per task (README, "The whole paper in one command").
PAPER_STEPS_PER_TASK = 1_000_000

#: Seeds of shard k start at ``seed + SHARD_SEED_STRIDE * k`` (env i of a shard: + i), so the
#: shards of a task never share an env seed while a shard has fewer envs than this.
SHARD_SEED_STRIDE = 1000


@dataclass(frozen=True)
class ReproduceConfig:
    """Every setting that shapes a reproduction's results (the defaults: the default budget).

    The default budget, 20,000 steps (20 episodes) per task, fits on 10,000 samples for 10
    epochs with the Jacobian term on 64 samples of each batch, is planned at about 16
    minutes for the eight tasks on the project's 2-core machine (the cost table in
    :mod:`jacwrap.reproduce.costs`; BENCHMARKS.md says how far that is measured). ``workers``
    (processes per recording shard) is not a setting of the results: any value gives the
    same recordings.
    """

    tasks: tuple[str, ...] = PAPER_ENVS
    steps_per_task: int = 20_000
    episode_length: int = 1000
    shard_steps: int = 100_000
    num_envs: int = 16
    fit_samples: int = 10_000
    fit_seeds: int = 1
    fit_epochs: int = 10
    jacobian_batch: int | None = 64
    batch_size: int = 512
    seed: int = 0
    tsne: bool = False
    workers: int = field(default=2, compare=False)

    def __post_init__(self) -> None:
        valid = available_envs()
        for task in self.tasks:
            if task not in valid:
                raise UnknownEnvError(task, valid)
        if not self.tasks:
            raise ValueError("at least one task is needed")
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"tasks repeat: {', '.join(self.tasks)}")
        for name in ("steps_per_task", "episode_length", "shard_steps", "num_envs",
                     "fit_samples", "fit_seeds", "batch_size", "workers"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.fit_epochs < 0:
            raise ValueError(f"fit_epochs must be >= 0, got {self.fit_epochs}")
        if self.jacobian_batch is not None and self.jacobian_batch < 1:
            raise ValueError(f"jacobian_batch must be >= 1 or None, got {self.jacobian_batch}")

    @property
    def steps_per_episode(self) -> int:
        """Episode length used: the configured one, or the whole budget when that is less."""
        return min(self.episode_length, self.steps_per_task)

    @property
    def episodes_per_task(self) -> int:
        """Whole episodes covering ``steps_per_task`` (rounded up)."""
        return math.ceil(self.steps_per_task / self.steps_per_episode)

    @property
    def episodes_per_shard(self) -> int:
        return max(1, self.shard_steps // self.steps_per_episode)

    def identity(self) -> dict:
        """The settings that must match for ``--resume`` (all but ``workers``)."""
        d = self.to_dict()
        del d["workers"]
        return d

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tasks"] = list(self.tasks)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ReproduceConfig:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["tasks"] = tuple(kw.get("tasks", PAPER_ENVS))
        return cls(**kw)


def shard_seed(config: ReproduceConfig, shard: int) -> int:
    return config.seed + SHARD_SEED_STRIDE * shard


def task_units(config: ReproduceConfig, task: str) -> list[Unit]:
    """The units of one task: its recording shards, its analysis, its fits."""
    per, total = config.episodes_per_shard, config.episodes_per_task
    records = [
        RecordUnit(
            task=task,
            shard=k,
            episodes=min(per, total - k * per),
            episode_length=config.steps_per_episode,
            seed=shard_seed(config, k),
            num_envs=min(config.num_envs, per, total - k * per),
        )
        for k in range(math.ceil(total / per))
    ]
    recs = tuple(r.id for r in records)
    units: list[Unit] = [*records, AnalysisUnit(task=task, records=recs)]
    for mode in LOSS_MODES:
        for seed in range(config.fit_seeds):
            units.append(FitUnit(task=task, mode=mode, seed=seed, records=recs))
    return units


def estimate_seconds(unit: Unit, config: ReproduceConfig) -> float:
    """Estimated wall time of one unit on the measured machine."""
    if isinstance(unit, RecordUnit):
        return costs.record_seconds(unit.task, unit.steps)
    steps = config.episodes_per_task * config.steps_per_episode
    if isinstance(unit, AnalysisUnit):
        return costs.analysis_seconds(unit.task, steps)
    return costs.fit_seconds(
        unit.task,
        min(config.fit_samples, steps),
        config.fit_epochs,
        needs_jacobian(unit.mode),
        config.jacobian_batch,
        config.batch_size,
    )


@dataclass(frozen=True)
class TaskPlan:
    task: str
    units: int
    steps: int
    record_s: float
    analysis_s: float
    fit_s: float
    disk_bytes: int

    @property
    def total_s(self) -> float:
        return self.record_s + self.analysis_s + self.fit_s


@dataclass(frozen=True)
class Plan:
    """All units of a run, in execution order, with an estimate each and totals per task."""

    config: ReproduceConfig
    units: tuple[Unit, ...]
    estimates: dict[str, float]
    tasks: tuple[TaskPlan, ...]

    @property
    def total_s(self) -> float:
        return sum(t.total_s for t in self.tasks)

    @property
    def disk_bytes(self) -> int:
        return sum(t.disk_bytes for t in self.tasks)

    def unit(self, unit_id: str) -> Unit:
        return next(u for u in self.units if u.id == unit_id)


def build_plan(config: ReproduceConfig) -> Plan:
    """Units of every task (recordings, analysis, fits), estimates and disk."""
    units: list[Unit] = []
    est: dict[str, float] = {}
    rows = []
    for task in config.tasks:
        tu = task_units(config, task)
        units += tu
        by_kind: dict[str, float] = {"record": 0.0, "analysis": 0.0, "fit": 0.0}
        for u in tu:
            est[u.id] = estimate_seconds(u, config)
            by_kind[u.kind] += est[u.id]
        steps = config.episodes_per_task * config.steps_per_episode
        fits = sum(isinstance(u, FitUnit) for u in tu)
        disk = steps * costs.task_cost(task).bytes_per_step + fits * costs.FIT_BYTES
        rows.append(TaskPlan(task, len(tu), steps, by_kind["record"], by_kind["analysis"],
                             by_kind["fit"], int(disk)))  # fmt: skip
    return Plan(config, tuple(units), est, tuple(rows))


def fmt_seconds(s: float) -> str:
    """``1:02:03``, ``12:30`` or ``45 s``."""
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def fmt_bytes(b: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if b < 1000 or unit == "TB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1000
    return f"{b:.1f} TB"


def format_plan(plan: Plan, pending: set[str] | None = None) -> str:
    """The plan as text: one line per task, the totals, and what ``--resume`` skips."""
    c = plan.config
    lines = [
        f"plan: {len(c.tasks)} task(s) x {c.episodes_per_task} episodes of "
        f"{c.steps_per_episode} steps, {c.episodes_per_shard} episodes per shard; fits: "
        f"{len(LOSS_MODES)} loss modes x {c.fit_seeds} seed(s), {c.fit_samples} samples, "
        f"{c.fit_epochs} epochs, Jacobian term on {c.jacobian_batch or c.batch_size} of "
        f"{c.batch_size} samples per batch",
        f"{'task':<16} {'units':>5} {'steps':>10} {'record':>8} {'analysis':>8} {'fits':>8} "
        f"{'total':>8} {'disk':>9}",
    ]
    for t in plan.tasks:
        lines.append(
            f"{t.task:<16} {t.units:>5} {t.steps:>10,} {fmt_seconds(t.record_s):>8} "
            f"{fmt_seconds(t.analysis_s):>8} {fmt_seconds(t.fit_s):>8} "
            f"{fmt_seconds(t.total_s):>8} {fmt_bytes(t.disk_bytes):>9}"
        )
    lines.append(
        f"{'total':<16} {len(plan.units):>5} {sum(t.steps for t in plan.tasks):>10,} "
        f"{'':>8} {'':>8} {'':>8} {fmt_seconds(plan.total_s):>8} "
        f"{fmt_bytes(plan.disk_bytes):>9}"
    )
    lines.append(
        "estimates: the 2-core CPU's seconds per 100k steps (jacwrap/reproduce/costs.py, "
        "BENCHMARKS.md), warm compile cache; a first run on a machine adds 5-15 s per task"
    )
    if pending is not None:
        left = sum(plan.estimates[u] for u in pending)
        lines.append(
            f"resume: {len(plan.units) - len(pending)} unit(s) done, {len(pending)} to run "
            f"(about {fmt_seconds(left)})"
        )
    return "\n".join(lines)
