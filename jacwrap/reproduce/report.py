"""The report of a reproduction: ``DIR/index.md`` and ``DIR/report.html``, laid out like the
paper, with every number also in ``DIR/tables/*.csv`` and ``*.json``.

It is assembled from what the units wrote (the analysis folders of ``jacwrap analyze``, the
fit summaries, the manifest); nothing is recomputed here. A report is a list of section
writers, one per table or figure group, each appending blocks
(:mod:`jacwrap.reproduce.report_doc`) and writing its data files. Every file is written to a
partial name and moved into place, so a killed report step leaves the previous report whole.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jacwrap.analysis import tables
from jacwrap.fit.losses import LOSS_MODES
from jacwrap.fit.summary import read_summary
from jacwrap.reproduce import figures
from jacwrap.reproduce.manifest import Manifest
from jacwrap.reproduce.plan import Plan, fmt_seconds
from jacwrap.reproduce.report_doc import Block, Heading, Image, Links, Table, Text, to_markdown
from jacwrap.reproduce.report_html import to_html
from jacwrap.reproduce.units import AnalysisUnit, FitUnit, partial_path

#: Mean evaluation returns of the paper's agents (docs/SCIENCE.md, "How the paper collected data"; episode length 1000).
PAPER_RETURNS: dict[str, float] = {
    "CartpoleBalance": 999.9,
    "BallInCup": 960.0,
    "FingerSpin": 902.6,
    "ReacherHard": 709.2,
    "SwimmerSwimmer6": 650.4,
    "FingerTurnEasy": 515.7,
    "CheetahRun": 351.8,
    "WalkerRun": 327.8,
}

SECTIONS_TITLE = "Dynamic Sparsity, reproduced with jacwrap"


def _num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:.{digits}g}" if abs(x) < 1e-2 and x != 0 else f"{x:,.{digits}f}"


def _nan(x: Any) -> float:
    return math.nan if x is None else float(x)


@dataclass
class _Report:
    """The report being built: its blocks and the files it wrote."""

    out: Path
    plan: Plan
    manifest: Manifest
    blocks: list[Block] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)

    def _atomic(self, rel: str, write: Callable[[Path], Any]) -> str:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = partial_path(path)
        write(tmp)
        os.replace(tmp, path)
        self.written.append(path)
        return rel

    def data(self, name: str, rows: list[dict], columns) -> tuple[str, str]:
        """``tables/<name>.csv`` and ``.json`` of ``rows``."""
        csv = self._atomic(f"tables/{name}.csv", lambda p: tables.write_csv(p, rows, columns))
        js = self._atomic(f"tables/{name}.json", lambda p: tables.write_json(p, rows))
        return csv, js

    def figure(self, rel: str, draw: Callable[[Path], Any]) -> str:
        return self._atomic(rel, draw)

    # -- what the units wrote ------------------------------------------------------------
    @property
    def tasks(self) -> tuple[str, ...]:
        return self.plan.config.tasks

    def analysis(self, task: str) -> str:
        return AnalysisUnit(task, ()).path

    def env_dir(self, task: str) -> str:
        return f"{self.analysis(task)}/{task}"

    def read(self, rel: str) -> Any:
        return json.loads((self.out / rel).read_text())

    def fits(self, task: str) -> list:
        units = [u for u in self.plan.units if isinstance(u, FitUnit) and u.task == task]
        return [read_summary(self.out / u.path) for u in units]


def _header(r: _Report) -> None:
    c, m = r.plan.config, r.manifest.raw
    v = ", ".join(f"{k} {val}" for k, val in m["versions"].items() if val)
    mach = m["machine"]
    r.add(
        Heading(1, SECTIONS_TITLE),
        Text(
            f"Run `{m['run_id']}`, started {m['created']}: {len(c.tasks)} task(s), "
            f"{c.episodes_per_task} episodes of {c.steps_per_episode} steps each with the "
            f"shipped expert policy (stochastic, colored noise), seed {c.seed}; fits on the "
            f"first {c.fit_samples} steps, {c.fit_epochs} epochs, {c.fit_seeds} seed(s) per "
            "loss mode. Every number below is also in the CSV/JSON files linked under it; "
            "`manifest.json` holds the command lines, seeds, timings and the sha256 of every "
            "recording."
        ),
        Text(
            f"Software: {v}. Machine: {mach['host']}, {mach['platform']}, "
            f"{mach['cpus']} CPU(s), Python {mach['python']}."
        ),  # fmt: skip
    )


def _global_sparsity(r: _Report) -> None:
    rows = [r.read(f"{r.analysis(t)}/q1_global_sparsity.json")[0] for t in r.tasks]
    csv, js = r.data("global_sparsity", rows, tables.Q1_COLUMNS)
    r.add(
        Heading(2, "Global sparsity (Q1)"),
        Text(
            "Elements of J_s and J_a that are zero in every finite sample of the task's "
            "recordings (an upper bound on the true global sparsity), as in the paper's "
            "Table 1; non-finite steps are excluded and counted."
        ),  # fmt: skip
        Table(
            (
                "task",
                "state dim",
                "action dim",
                "J_s zeros",
                "J_a zeros",
                "samples",
                "non-finite excluded",
            ),
            tuple(
                (
                    q["env"],
                    str(q["state_dim"]),
                    str(q["action_dim"]),
                    f"{q['state_zeros']} ({q['state_zeros_pct']:.1f}%)",
                    f"{q['action_zeros']} ({q['action_zeros_pct']:.1f}%)",
                    f"{q['samples']:,}",
                    str(q["nonfinite_excluded"]),
                )
                for q in rows
            ),
            (False, True, True, True, True, True, True),
        ),  # fmt: skip
        Links("Data", (csv, js)),
    )


RETURN_COLUMNS = ("task", "episodes", "mean", "std", "min", "max", "paper_mean")


def _returns(r: _Report) -> None:
    rows = []
    for t in r.tasks:
        ret = r.read(f"{r.analysis(t)}/returns.json")
        rows.append({"task": t, **ret, "paper_mean": PAPER_RETURNS.get(t)})
    csv, js = r.data("returns", rows, RETURN_COLUMNS)
    bars = [(x["task"], _nan(x["mean"]), _nan(x["std"]), _nan(x["paper_mean"])) for x in rows]
    png = r.figure("figures/returns.png", lambda p: figures.returns_bars(bars, p))
    r.add(
        Heading(2, "The expert agents' returns"),
        Text(
            "Mean return of the complete recorded episodes (the stochastic policy with its "
            "colored noise) next to the mean evaluation return of the paper's agents."
        ),
        Table(
            ("task", "episodes", "mean return", "std", "min", "max", "paper"),
            tuple(
                (
                    x["task"],
                    str(x["episodes"]),
                    *(_num(x[k], 1) for k in ("mean", "std", "min", "max", "paper_mean")),
                )
                for x in rows
            ),
            (False, *(True,) * 6),
        ),  # fmt: skip
        Image(png, "Recorded mean return (std as error bar) vs the paper's."),
        Links("Data", (csv, js)),
    )


def _heatmaps(r: _Report) -> None:
    r.add(Heading(2, "State-dependent sparsity (Q2)"), Heading(3, "Zero percentage per element"))
    for t in r.tasks:
        d = r.env_dir(t)
        r.add(
            Image(f"{d}/q2_zero_pct.png", f"{t}: percentage of samples in which each element "
                  "of J_s and J_a is zero (rows: next-state variables; 100 % = globally zero)."),
            Links("Data", (f"{d}/q2_zero_pct_state.csv", f"{d}/q2_zero_pct_action.csv")),
        )  # fmt: skip


def _histograms(r: _Report) -> None:
    panels, hist_rows, mean_rows = [], [], []
    for t in r.tasks:
        s = r.read(f"{r.env_dir(t)}/summary.json")
        dens = [[_nan(x) for x in s["hist_density"][k]] for k in ("state", "action")]
        means = [_nan(s["mean_sparsity"][k]) for k in ("state", "action")]
        panels.append((t, dens, means))
        mean_rows.append({"task": t, **s["mean_sparsity"]})
        for name, key in (("J_s", "state"), ("J_a", "action"), ("[J_s|J_a]", "combined")):
            for b, d in enumerate(s["hist_density"][key]):
                hist_rows.append({"task": t, "matrix": name, "bin_lo": s["hist_edges"][b],
                                  "bin_hi": s["hist_edges"][b + 1], "density": d})  # fmt: skip
    png = r.figure("figures/sparsity_histograms.png", lambda p: figures.histogram_grid(panels, p))
    hcsv, hjs = r.data("sparsity_histograms", hist_rows, ("task", "matrix", "bin_lo", "bin_hi",
                                                          "density"))  # fmt: skip
    mcsv, mjs = r.data("mean_sparsity", mean_rows, ("task", "state", "action", "combined"))
    r.add(
        Heading(3, "Per-sample sparsity"),
        Image(
            png,
            "Density histograms (bins of 0.1) of the per-sample sparsity of J_s and J_a "
            "of every task, means marked.",
        ),  # fmt: skip
        Table(
            ("task", "mean sparsity J_s", "mean sparsity J_a", "mean sparsity [J_s|J_a]"),
            tuple(
                (x["task"], *(_num(x[k]) for k in ("state", "action", "combined")))
                for x in mean_rows
            ),
            (False, True, True, True),
        ),  # fmt: skip
        Links("Data", (hcsv, hjs, mcsv, mjs)),
    )


RUN_COLUMNS = ("task", "episodes", "zero_J_s", "nonzero_J_s", "zero_J_a", "nonzero_J_a")


def _temporal(r: _Report) -> None:
    rows = []
    for t in r.tasks:
        s = r.read(f"{r.env_dir(t)}/summary.json")
        rows.append({"task": t, "episodes": s["episodes"], **s["mean_run"]})
    csv, js = r.data("run_lengths", rows, RUN_COLUMNS)
    r.add(
        Heading(2, "Temporal sparsity (Q3)"),
        Text("Mean durations (steps) of the zero and non-zero runs of every element, runs "
             "lasting a whole episode excluded (- : no element switched)."),
        Table(("task", "episodes", "mean zero run J_s", "mean non-zero run J_s",
               "mean zero run J_a", "mean non-zero run J_a"),
              tuple((x["task"], str(x["episodes"]), *(_num(x[k], 2) for k in RUN_COLUMNS[2:]))
                    for x in rows),
              (False, *(True,) * 5)),
        Links("Data", (csv, js)),
    )  # fmt: skip
    for t in r.tasks:
        d = r.env_dir(t)
        r.add(
            Heading(3, t),
            Image(f"{d}/q3_rollout.png", f"{t}: sparsity of J_s and J_a at every step of one "
                                         "recorded episode."),
            Links("Data", (f"{d}/q3_rollout.csv",)),
            Image(f"{d}/q3_run_lengths.png", f"{t}: distributions of the zero and non-zero run "
                                             "lengths (log-log), means marked."),
            Links("Data", (f"{d}/q3_run_lengths.csv", f"{d}/q3_mean_durations.csv")),
        )  # fmt: skip


CONTACT_COLUMNS = ("task", "pairs", "episodes", "mask_changes", "mask_changes_at_contact",
                   "mask_changes_at_contact_chance", "contact_changes",
                   "contact_changes_changing_mask", "contact_changes_changing_mask_chance",
                   "opportunities")  # fmt: skip
#: Switching elements shown per task (the analysis folder's contacts_elements.csv has all).
CONTACT_ELEMENTS_SHOWN = 8


def _contacts(r: _Report) -> None:
    """What changes the sparsity: per task with contact data its alignment, contact sets,
    histogram by pairs in contact and best pairs; the "no contact data" sentence otherwise."""
    per_task = [(t, r.read(f"{r.env_dir(t)}/summary.json").get("contacts")) for t in r.tasks]
    rows = [_contact_row(t, c) for t, c in per_task if c and "alignment" in c]
    r.add(
        Heading(2, "What changes the sparsity: contacts"),
        Text("The pairs in contact at each step (at any physics substep) against the zero "
             "masks: how often a change of the zero mask [J_s | J_a] comes within one step of "
             "a change of the contact set and the reverse, each next to its exact chance value "
             "had the other kind's changes of each episode been placed at random (definitions "
             "in `jacwrap.analysis.contact_stats`)."),
    )  # fmt: skip
    if rows:
        csv, js = r.data("contact_alignment", rows, CONTACT_COLUMNS)
        r.add(
            Table(("task", "pairs", "mask changes", "at a contact change (chance)",
                   "contact changes", "changing the mask (chance)"),
                  tuple((x["task"], str(x["pairs"]), f"{x['mask_changes']:,}",
                         _share(x["mask_changes_at_contact"], x["mask_changes_at_contact_chance"]),
                         f"{x['contact_changes']:,}",
                         _share(x["contact_changes_changing_mask"],
                                x["contact_changes_changing_mask_chance"]))
                        for x in rows),
                  (False, True, True, True, True, True)),
            Links("Data", (csv, js)),
        )  # fmt: skip
    for t, c in per_task:
        r.add(Heading(3, t))
        _contact_task(r, t, c or {})


def _share(share: Any, chance: Any) -> str:
    return f"{_num(_nan(share))} ({_num(_nan(chance))})"


def _contact_row(task: str, c: dict) -> dict[str, Any]:
    a, b = c["alignment"]
    return {"task": task, "pairs": len(c["pairs"]), "episodes": c["episodes"],
            "mask_changes": a["events"], "mask_changes_at_contact": a["share"],
            "mask_changes_at_contact_chance": a["chance"], "contact_changes": b["events"],
            "contact_changes_changing_mask": b["share"],
            "contact_changes_changing_mask_chance": b["chance"],
            "opportunities": a["opportunities"]}  # fmt: skip


def _contact_task(r: _Report, task: str, c: dict) -> None:
    """One task's contact blocks (what ``jacwrap analyze`` wrote), or why there are none."""
    absent = c.get("absent", [f"no contact statistics in this task's analysis: "
                               f"{r.env_dir(task)}/summary.json (written by an older jacwrap; "
                               "rerun the analysis unit)"])  # fmt: skip
    r.add(*(Text(f"{why}.") for why in absent))
    if "alignment" not in c:
        return
    d = r.env_dir(task)
    pairs = c["pairs"]
    r.add(
        Text(f"{len(pairs)} candidate contact pairs"
             + (f": {', '.join(pairs)}." if pairs else " (contacts disabled or every geom pair "
                "filtered out): the contact set is always {}.")),
        Table(("contact set", "steps", "share", "mean sparsity J_s", "mean sparsity J_a"),
              tuple((x["contact_set"], f"{x['steps']:,}", _num(_nan(x["share"])),
                     _num(_nan(x["mean_sparsity_state"])), _num(_nan(x["mean_sparsity_action"])))
                    for x in c["sets"]),
              (False, True, True, True, True)),
        Image(f"{d}/contacts_sparsity_hist.png", f"{task}: per-sample sparsity of J_s and J_a "
              "by the number of pairs in contact."),
    )  # fmt: skip
    shown = [e for e in c["elements_top"] if e["pair"]][:CONTACT_ELEMENTS_SHOWN]
    if shown:
        r.add(
            Text(f"The pair whose changes coincide with most switches of an element, for the "
                 f"{len(shown)} most switching of the {c['elements_explained']} elements that "
                 f"have one ({c['elements_switching']} switch):"),
            Table(("element", "switches", "best pair", "share explained (chance)"),
                  tuple((f"{e['matrix']}[{e['row_label']}, {e['col_label']}]",
                         f"{e['switches']:,}", e["pair"], _share(e["share"], e["chance"]))
                        for e in shown),
                  (False, True, False, True)),
        )  # fmt: skip
    names = ("contacts_sets.csv", "contacts_sparsity_hist.csv", "contacts_alignment.csv",
             "contacts_elements.csv")  # fmt: skip
    r.add(Links("Data", tuple(f"{d}/{n}" for n in names)))


FIT_COLUMNS = ("task", "loss_mode", "seed", "test_mse", "induced_sparsity", "target_sparsity",
               "initial_sparsity", "epochs", "num_train", "wall_s")  # fmt: skip


def _fits(r: _Report) -> None:
    from jacwrap.fit.plot import plot_fit_comparison

    per_task = [(t, r.fits(t)) for t in r.tasks]
    rows = [
        {"task": t, "loss_mode": s.loss_mode, "seed": s.seed, "test_mse": s.test_mse,
         "induced_sparsity": s.induced_sparsity, "target_sparsity": s.target_sparsity,
         "initial_sparsity": s.initial_sparsity, "epochs": s.epochs,
         "num_train": s.raw["data"]["num_train"], "wall_s": s.raw["timing"]["wall_s"]}
        for t, summaries in per_task for s in summaries
    ]  # fmt: skip
    csv, js = r.data("fits", rows, FIT_COLUMNS)
    thr = per_task[0][1][0].raw["learned_threshold"]
    png = r.figure("figures/fit_comparison.png", lambda p: figures.fit_overview(per_task, thr, p))
    r.add(
        Heading(2, "Does a learned model recover the sparsity? (Q4)"),
        Text(f"MLPs (2x512 ELU) trained on each task's recordings with the five loss modes; "
             f"induced sparsity = mean combined sparsity of the model's Jacobian on the test "
             f"set at |J| < {thr:g}, next to the ground truth's (target) and the untrained "
             "model's (initial)."),
        Image(png, "Test next-state MSE (normalised) against induced sparsity, per task and "
                   "loss mode; target and initial sparsity as vertical lines."),
        Table(("task", "loss mode", "seeds", "test MSE", "induced sparsity", "target",
               "initial"),
              tuple(_fit_row(t, mode, [s for s in summaries if s.loss_mode == mode])
                    for t, summaries in per_task for mode in LOSS_MODES),
              (False, False, True, True, True, True, True)),
        Links("Data (one row per fit)", (csv, js)),
    )  # fmt: skip
    for t, summaries in per_task:
        rel = f"fits/{t}/comparison.png"
        r.figure(rel, lambda p, s=summaries: plot_fit_comparison(s, p))
        r.add(
            Image(rel, f"{t}: test MSE and induced sparsity per loss mode and seed."),
            Links("Fit summaries", tuple(f"fits/{t}/{s.name}.json" for s in summaries)),
        )


def _fit_row(task: str, mode: str, fits: list) -> tuple[str, ...]:
    def mean(key: str) -> float:
        v = [getattr(s, key) for s in fits if math.isfinite(getattr(s, key))]
        return sum(v) / len(v) if v else math.nan

    return (task, mode, str(len(fits)), _num(mean("test_mse")), _num(mean("induced_sparsity")),
            _num(mean("target_sparsity")), _num(mean("initial_sparsity")))  # fmt: skip


TIMING_COLUMNS = ("task", "units", "steps", "record_s", "analysis_s", "fit_s", "total_s",
                  "estimated_s")  # fmt: skip


def _timings(r: _Report) -> None:
    units = r.manifest.raw["units"]
    rows = []
    for tp in r.plan.tasks:
        secs = {"record": 0.0, "analysis": 0.0, "fit": 0.0}
        for u in r.plan.units:
            if u.task == tp.task and u.id in units:
                secs[u.kind] += units[u.id]["seconds"]
        rows.append({"task": tp.task, "units": tp.units, "steps": tp.steps,
                     "record_s": secs["record"], "analysis_s": secs["analysis"],
                     "fit_s": secs["fit"], "total_s": sum(secs.values()),
                     "estimated_s": tp.total_s})  # fmt: skip
    csv, js = r.data("timings", rows, TIMING_COLUMNS)
    r.add(
        Heading(2, "Units and timings"),
        Text("Wall time of the units of each task (summed over the sessions that ran them) "
             "next to the plan's estimate."),
        Table(("task", "units", "steps", "record", "analysis", "fits", "total", "estimated"),
              tuple((x["task"], str(x["units"]), f"{x['steps']:,}",
                     *(fmt_seconds(x[k]) for k in TIMING_COLUMNS[3:])) for x in rows),
              (False, *(True,) * 7)),
        Links("Data", (csv, js, "manifest.json")),
    )  # fmt: skip


SECTIONS = (_header, _global_sparsity, _returns, _heatmaps, _histograms, _temporal, _contacts,
            _fits, _timings)  # fmt: skip


def build_report(out: Path, plan: Plan, manifest: Manifest) -> tuple[list[Block], list[Path]]:
    """Run every section writer; returns the blocks and the data/figure files written."""
    r = _Report(Path(out), plan, manifest)
    for section in SECTIONS:
        section(r)
    return r.blocks, r.written


def write_report(out: Path, plan: Plan, manifest: Manifest) -> tuple[Path, Path]:
    """Write ``index.md`` and ``report.html`` (and their data files) into ``out``."""
    out = Path(out)
    blocks, _ = build_report(out, plan, manifest)
    index, page = out / "index.md", out / "report.html"
    for path, text in ((index, to_markdown(blocks)),
                       (page, to_html(blocks, out, SECTIONS_TITLE))):  # fmt: skip
        tmp = partial_path(path)
        tmp.write_text(text)
        os.replace(tmp, path)
    return index, page
