"""The driver of ``jacwrap reproduce``: check, plan, run the pending units, write the report.

Everything that can be wrong with the input (tasks, policy files, the output folder, the
executor) is checked before anything is written, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from jacwrap.reproduce.errors import RunExistsError
from jacwrap.reproduce.executors import make_executor
from jacwrap.reproduce.manifest import NAME, Manifest
from jacwrap.reproduce.plan import Plan, ReproduceConfig, build_plan, format_plan
from jacwrap.reproduce.progress import Progress
from jacwrap.reproduce.units import RecordUnit, Unit, policy_path, remove_partials


@dataclass
class RunResult:
    """What a call of :func:`reproduce` did: the plan, the units it ran, the report."""

    out: Path
    plan: Plan
    ran: list[str]
    skipped: list[str]
    index: Path
    html: Path
    seconds: float


def pending_units(plan: Plan, done: set[str]) -> list[Unit]:
    """Units to run: those not done, and those depending on a unit that is not done."""
    todo: set[str] = set()
    for u in plan.units:  # plan order puts every unit after its dependencies
        if u.id not in done or any(d in todo for d in u.deps):
            todo.add(u.id)
    return [u for u in plan.units if u.id in todo]


def seeds(config: ReproduceConfig, plan: Plan) -> dict:
    """Every seed of the run: shards (env i of a shard: + i), fits, the test split."""
    from jacwrap.fit.train import FitConfig

    shards = {u.id: u.seed for u in plan.units if isinstance(u, RecordUnit)}
    return {"base": config.seed, "shards": shards, "fits": list(range(config.fit_seeds)),
            "fit_split_seed": FitConfig().split_seed, "analysis": config.seed}  # fmt: skip


def _check_folder(out: Path, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise RunExistsError(f"{out} is a file; --out needs a folder")
    if out.is_dir() and not (out / NAME).exists() and any(out.iterdir()):
        raise RunExistsError(
            f"{out} holds files but no {NAME}; choose a new or empty folder for --out"
        )


def reproduce(
    config: ReproduceConfig,
    out: str | Path,
    *,
    resume: bool = False,
    executor: str = "local",
    ray_address: str | None = None,
    command: list[str] | None = None,
    stream: TextIO | None = None,
) -> RunResult:
    """Run (or with ``resume``, continue) a reproduction into ``out``; see the module docstring."""
    from jacwrap.reproduce.report import write_report

    stream = stream if stream is not None else sys.stderr
    out = Path(out)
    command = list(command if command is not None else sys.argv)
    for task in config.tasks:
        policy_path(task)
    runner = make_executor(executor, workers=config.workers, address=ray_address)
    _check_folder(out, resume)
    plan = build_plan(config)
    manifest = Manifest.open_for(out, config.identity(), seeds(config, plan), command, resume)
    done = manifest.done(out) & {u.id for u in plan.units}
    todo = pending_units(plan, done)
    print(format_plan(plan, {u.id for u in todo} if resume else None), file=stream, flush=True)

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    remove_partials(out)
    manifest.begin_session(command, executor, resume)
    progress = Progress(plan, todo, stream)

    def on_done(unit: Unit, result) -> None:
        manifest.unit_done(unit, result)
        progress.finish(unit, result)

    runner.run(todo, out, config, progress.start, on_done)
    index, html = write_report(out, plan, manifest)
    elapsed = time.perf_counter() - t0
    manifest.end_session({"index": index.name, "html": html.name, "seconds": elapsed})
    print(f"report: {index} and {html} ({len(todo)} unit(s) run in {elapsed:.0f} s)",
          file=stream, flush=True)  # fmt: skip
    skipped = [u.id for u in plan.units if u.id not in {t.id for t in todo}]
    return RunResult(out, plan, [u.id for u in todo], skipped, index, html, elapsed)
