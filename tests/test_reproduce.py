"""``jacwrap reproduce`` end to end on CartpoleBalance and ReacherHard with a tiny budget.

One uninterrupted run (module fixture) is checked against independent oracles: the Q1 rows
against ``jacwrap analyze`` on the same recordings, the returns against the rewards read
back from the recordings, the sha256 in the manifest against the files, every PNG decoded,
report.html parsed. A second run is made to fail in its third fit (the model file half
written), resumed, and must redo exactly the missing units and give the same tables.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jacwrap.cli import main
from jacwrap.recording import open_recording
from jacwrap.reproduce import run as run_module
from jacwrap.reproduce.errors import (
    ManifestError,
    MissingPolicyError,
    RunExistsError,
    UnitFailedError,
)
from jacwrap.reproduce.plan import ReproduceConfig, build_plan, format_plan
from jacwrap.reproduce.run import reproduce

TASKS = ("CartpoleBalance", "ReacherHard")
TINY = ReproduceConfig(
    tasks=TASKS,
    steps_per_task=100,
    episode_length=50,
    shard_steps=50,  # two shards of one 50-step episode per task
    fit_samples=100,
    fit_epochs=1,
    fit_seeds=1,
)
UNITS_PER_TASK = 2 + 1 + 5  # shards, analysis, five loss modes x one seed
#: Tables whose every cell must be equal between runs (fits.csv: all but its wall time).
TABLES = ("global_sparsity", "returns", "mean_sparsity", "sparsity_histograms", "run_lengths",
          "contact_alignment")  # fmt: skip
SECTIONS = (
    "## Global sparsity (Q1)",
    "## The expert agents' returns",
    "## State-dependent sparsity (Q2)",
    "### Zero percentage per element",
    "### Per-sample sparsity",
    "## Temporal sparsity (Q3)",
    "## What changes the sparsity: contacts",
    "## Does a learned model recover the sparsity? (Q4)",
    "## Units and timings",
)


@pytest.fixture(scope="module")
def run_a(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro") / "run"
    log = io.StringIO()
    result = reproduce(TINY, out, command=["test", "run_a"], stream=log)
    return out, result, log.getvalue()


def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _fit_rows(out: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in _rows(out / "tables/fits.csv")]


def _recordings(out: Path, task: str) -> list[Path]:
    return sorted((out / "recordings" / task).glob("*.jwr"))


def test_plan_printed_then_every_unit_run(run_a):
    out, result, log = run_a
    assert log.index("plan: 2 task(s)") < log.index("[0/16] record/CartpoleBalance/shard000")
    for task in TASKS:
        assert re.search(rf"^{task} +{UNITS_PER_TASK} +100 ", log, re.M), log
    assert re.search(r"^total +16 +200 ", log, re.M)
    assert len(result.ran) == 2 * UNITS_PER_TASK and not result.skipped
    assert "[16/16] fit/ReacherHard/state-jacobian-l1-sparse-only-seed0 done" in log
    assert "steps/s" in log and "ETA" in log
    assert not list(out.rglob("*.partial*"))


def test_report_sections_and_links(run_a):
    out, _, _ = run_a
    index = (out / "index.md").read_text()
    positions = [index.index(s) for s in SECTIONS]
    assert positions == sorted(positions)
    links = re.findall(r"\]\(([^)]+)\)", index)
    assert links and all((out / link).is_file() for link in links)
    images = [link for link in links if link.endswith(".png")]
    for task in TASKS:
        d = f"analysis/{task}/{task}"
        for name in ("q2_zero_pct.png", "q3_rollout.png", "q3_run_lengths.png"):
            assert f"{d}/{name}" in images
        assert f"fits/{task}/comparison.png" in images
    for name in ("returns", "sparsity_histograms", "fit_comparison"):
        assert f"figures/{name}.png" in images
    for table in (*TABLES, "fits", "timings"):
        assert f"tables/{table}.csv" in links and f"tables/{table}.json" in links


def test_every_png_decodes(run_a):
    out, _, _ = run_a
    pngs = sorted(out.rglob("*.png"))
    assert len(pngs) >= 3 * len(TASKS) + 3
    for p in pngs:
        with Image.open(p) as im:
            assert im.format == "PNG"
            im.load()
            assert im.size[0] > 100 and im.size[1] > 100


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.src: list[str] = []
        self.href: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if "src" in a:
            self.src.append(a["src"])
        if "href" in a:
            self.href.append(a["href"])


def test_report_html_is_self_contained(run_a):
    out, _, _ = run_a
    parser = _Refs()
    parser.feed((out / "report.html").read_text())
    parser.close()
    index = (out / "index.md").read_text()
    assert len(parser.src) == index.count("![")
    for src in parser.src:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        with Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :]))) as im:
            im.load()
    assert parser.href and all((out / h).is_file() for h in parser.href)
    assert parser.tags.count("table") == sum(li.startswith("|---") for li in index.splitlines())


def test_q1_rows_equal_jacwrap_analyze(run_a, tmp_path):
    out, _, _ = run_a
    files = [str(p) for t in TASKS for p in _recordings(out, t)]
    assert len(files) == 4
    assert main(["analyze", *files, "--out", str(tmp_path / "a"), "--no-tsne"]) == 0
    expected = _rows(tmp_path / "a" / "q1_global_sparsity.csv")
    assert _rows(out / "tables/global_sparsity.csv") == expected
    assert [r["env"] for r in expected] == list(TASKS)
    assert all(int(r["samples"]) + int(r["nonfinite_excluded"]) == 100 for r in expected)


def test_contact_section_equals_jacwrap_analyze(run_a, tmp_path):
    """Both tasks are recorded with contact data and have no candidate pairs (CartpoleBalance,
    ReacherHard: contacts disabled or filtered out): their rows against ``jacwrap analyze`` on
    the same recordings, and the section says why the contact set never changes."""
    out, _, _ = run_a
    rows = {r["task"]: r for r in _rows(out / "tables/contact_alignment.csv")}
    assert list(rows) == list(TASKS)
    for task in TASKS:
        with open_recording(_recordings(out, task)[0]) as rec:
            assert rec.header.contact_pairs == ()
        analysed = tmp_path / task
        files = [str(p) for p in _recordings(out, task)]
        assert main(["analyze", *files, "--out", str(analysed), "--no-tsne"]) == 0
        a, b = _rows(analysed / task / "contacts_alignment.csv")
        r = rows[task]
        assert (r["pairs"], r["episodes"], r["contact_changes"]) == ("0", "2", "0")
        assert (r["mask_changes"], r["opportunities"]) == (a["events"], a["opportunities"])
        # the report's tables come from summary.json (NaN is null there, empty in its CSV)
        np.testing.assert_equal(float(r["mask_changes_at_contact"] or "nan"), float(a["share"]))
        assert r["contact_changes_changing_mask"] == "" and b["share"] == "nan"  # 0 changes
        (cset,) = _rows(analysed / task / "contacts_sets.csv")
        assert cset["contact_set"] == "{}" and int(cset["steps"]) == int(
            _rows(out / "tables/global_sparsity.csv")[TASKS.index(task)]["samples"]
        )
    index = (out / "index.md").read_text()
    section = index[index.index("## What changes the sparsity: contacts") :]
    section = section[: section.index("\n## ")]
    assert section.count("the contact set is always {}") == len(TASKS)
    for task in TASKS:
        assert f"analysis/{task}/{task}/contacts_sparsity_hist.png" in section
        assert f"analysis/{task}/{task}/contacts_elements.csv" in section


def test_contact_section_with_and_without_contact_data(tmp_path):
    """One task analysed from a version 1 file: the section names it with the "no contact
    data" sentence; one from the planted contacts of tests/test_analysis_contacts.py: its
    alignment row, contact sets and best pairs, as that file's docstring counts them."""
    import dataclasses

    from test_analysis_contacts import PAIRS, pi, write_planted

    from jacwrap.analysis.report import analyze
    from jacwrap.recording import RecordingWriter
    from jacwrap.reproduce import report
    from jacwrap.reproduce.report_doc import to_markdown

    demo = Path(__file__).resolve().parent.parent / "recordings" / "demo-CartpoleBalance.jwr"
    planted = write_planted(tmp_path / "planted.jwr")
    cheetah = tmp_path / "cheetah.jwr"  # the planted steps under a task's name
    with open_recording(planted) as rec:
        steps = rec.read(0, len(rec))
        hdr = dataclasses.replace(rec.header, env_name="CheetahRun")
    with RecordingWriter(cheetah, hdr) as w:
        w.add_batch(
            **{f: getattr(steps, f) for f in w.fields if getattr(steps, f, None) is not None},
            env_indices=[0] * len(steps),
        )
    plan = build_plan(ReproduceConfig(tasks=("CartpoleBalance", "CheetahRun")))
    out = tmp_path / "run"
    assert analyze([demo], out / "analysis/CartpoleBalance", tsne=False).ok
    assert analyze([cheetah], out / "analysis/CheetahRun", tsne=False).ok
    r = report._Report(out, plan, manifest=None)
    report._contacts(r)
    md = to_markdown(r.blocks)
    assert (
        "### CartpoleBalance\n\nno contact data in this recording (recorded before format "
        f"version 2, or without contacts): {demo}.\n\n### CheetahRun" in md
    )
    (row,) = _rows(out / "tables/contact_alignment.csv")  # only the task with contact data
    assert (row["task"], row["pairs"], row["mask_changes"], row["contact_changes"]) == (
        "CheetahRun", "2", "3", "4",
    )  # fmt: skip
    assert float(row["mask_changes_at_contact"]) == pytest.approx(2 / 3)
    assert float(row["mask_changes_at_contact_chance"]) == pytest.approx(pi(19, 3, 2))
    assert f"| CheetahRun | 2 | 3 | 0.667 ({pi(19, 3, 2):.3f}) | 4 | 0.500 (" in md
    assert f"2 candidate contact pairs: {', '.join(PAIRS)}." in md
    assert "| {floor:foot} | 14 | 0.350 | 0.125 | 0.000 |" in md
    assert "| J_s[qpos:j0, qvel:j0] | 2 | floor:foot | 0.500 (" in md
    assert "| J_a[qvel:j0, act:u] | 1 | floor:hand | 1.000 (0.158) |" in md


def test_returns_equal_rewards_in_the_recordings(run_a):
    out, _, _ = run_a
    rows = {r["task"]: r for r in _rows(out / "tables/returns.csv")}
    for task in TASKS:
        rets = []
        for p in _recordings(out, task):
            with open_recording(p) as rec:
                steps = rec.read(0, rec.num_steps)
                rets += [
                    float(np.sum(steps.reward[steps.episode == e])) for e in set(steps.episode)
                ]
        assert len(rets) == 2 == int(rows[task]["episodes"])
        assert float(rows[task]["mean"]) == pytest.approx(np.mean(rets), rel=1e-12)
    assert float(rows["CartpoleBalance"]["paper_mean"]) == 999.9


def test_fit_table_and_manifest(run_a):
    out, result, _ = run_a
    fits = _fit_rows(out)
    assert [(r["task"], r["loss_mode"]) for r in fits] == [
        (t, m) for t in TASKS for m in (
            "state", "state-jacobian", "state-jacobian-l1", "state-jacobian-l1-regularizer",
            "state-jacobian-l1-sparse-only",
        )
    ]  # fmt: skip
    for r in fits:
        summary = json.loads((out / f"fits/{r['task']}/{r['loss_mode']}-seed0.json").read_text())
        assert float(r["test_mse"]) == summary["final"]["test_mse"]
        assert (out / "fits" / r["task"] / summary["model_file"]).is_file()

    m = json.loads((out / "manifest.json").read_text())
    assert m["schema"] == "jacwrap.reproduce-manifest" and m["config"] == TINY.identity()
    assert {"jacwrap", "jax", "mujoco", "mujoco-mjx", "playground"} <= {
        k for k, v in m["versions"].items() if v
    }
    assert m["machine"]["cpus"] >= 1 and m["sessions"][0]["command"] == ["test", "run_a"]
    assert set(m["units"]) == {u.id for u in result.plan.units}
    assert m["seeds"]["shards"]["record/ReacherHard/shard001"] == 1000
    recs = {p: h for u in m["units"].values() for p, h in u["files"].items() if p.endswith(".jwr")}
    assert len(recs) == 4
    for rel, digest in recs.items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    assert all(u["seconds"] > 0 for u in m["units"].values())


def test_killed_run_resumes_only_missing_units(run_a, tmp_path, monkeypatch):
    from jacwrap.fit.model import DynamicsModel

    ref, _, _ = run_a
    out = tmp_path / "run"
    real_save = DynamicsModel.save
    calls = []

    def failing_save(self, path):
        calls.append(path)
        if len(calls) == 3:  # the third fit dies half-way through writing its model
            Path(path).write_bytes(b"PK\x03\x04half")
            raise OSError("disk full (simulated)")
        return real_save(self, path)

    monkeypatch.setattr(DynamicsModel, "save", failing_save)
    with pytest.raises(UnitFailedError, match="fit/CartpoleBalance/state-jacobian-l1-seed0"):
        reproduce(TINY, out, stream=io.StringIO())
    done = json.loads((out / "manifest.json").read_text())["units"]
    assert len(done) == 2 + 1 + 2  # shards, analysis, two fits
    assert not list(out.rglob("*.partial*")) and not (out / "index.md").exists()
    monkeypatch.setattr(DynamicsModel, "save", real_save)

    stray = out / "recordings/ReacherHard/shard000.partial.jwr"  # a kill mid-recording
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"JWR")
    with pytest.raises(RunExistsError, match="--resume"):
        reproduce(TINY, out, stream=io.StringIO())
    log = io.StringIO()
    result = reproduce(TINY, out, resume=True, stream=log)
    assert len(result.ran) == 2 * UNITS_PER_TASK - len(done)
    assert set(result.skipped) == set(done)
    assert f"resume: {len(done)} unit(s) done, {len(result.ran)} to run" in log.getvalue()
    assert not stray.exists()
    for table in TABLES:
        assert _rows(out / f"tables/{table}.csv") == _rows(ref / f"tables/{table}.csv"), table
    assert _fit_rows(out) == _fit_rows(ref)
    m = json.loads((out / "manifest.json").read_text())
    assert [s["resume"] for s in m["sessions"]] == [False, True]
    assert [s["units_run"] for s in m["sessions"]] == [len(done), len(result.ran)]
    assert m["sessions"][0]["finished"] is None and m["sessions"][1]["finished"]


def test_resume_with_other_settings_is_refused(run_a):
    out, _, _ = run_a
    before = sorted(p.stat().st_mtime_ns for p in out.rglob("*"))
    other = ReproduceConfig(**{**TINY.to_dict(), "tasks": TASKS, "fit_epochs": 2})
    with pytest.raises(ManifestError, match="fit_epochs: 1 there, 2 now"):
        reproduce(other, out, resume=True, stream=io.StringIO())
    assert sorted(p.stat().st_mtime_ns for p in out.rglob("*")) == before


def test_cli_refuses_another_runs_folder(run_a, capsys):
    out, _, _ = run_a
    manifest = (out / "manifest.json").read_text()
    assert main(["reproduce", "--tasks", *TASKS, "--out", str(out)]) == 2
    assert "holds another run" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == manifest


def test_cli_unknown_task_lists_valid_ones(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["reproduce", "--tasks", "CartpoleBalance", "Nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown environment 'Nope'" in err and "CheetahRun" in err and "WalkerRun" in err
    assert not out.exists()


def test_missing_policy_is_a_clear_error(tmp_path, monkeypatch):
    from jacwrap.reproduce import units

    monkeypatch.setattr(units, "policy_dir", lambda: tmp_path / "no-policies")
    out = tmp_path / "never"
    with pytest.raises(
        MissingPolicyError, match=r"CartpoleBalance: no shipped expert policy at .*no-policies"
    ):
        reproduce(TINY, out, stream=io.StringIO())
    assert not out.exists()


def test_plan_shards_seeds_and_default_budget():
    c = ReproduceConfig(tasks=("CheetahRun",), steps_per_task=2500, shard_steps=2000)
    plan = build_plan(c)
    shards = [u for u in plan.units if u.kind == "record"]
    assert [(u.episodes, u.num_envs, u.seed) for u in shards] == [(2, 2, 0), (1, 1, 1000)]
    assert plan.tasks[0].steps == 3000 and len(plan.units) == 2 + 1 + 5
    assert all(set(u.deps) == {s.id for s in shards} for u in plan.units if u.kind != "record")
    assert run_module.pending_units(plan, {shards[0].id}) == list(plan.units[1:])
    # The default budget (all eight tasks, fits included) fits in 30 minutes on the measured
    # machine, and the paper's scale is what --steps-per-task 1000000 plans.
    default = build_plan(ReproduceConfig())
    assert len(default.tasks) == 8 and default.total_s <= 30 * 60
    text = format_plan(default)
    assert all(t in text for t in ReproduceConfig().tasks) and "disk" in text
    paper = build_plan(ReproduceConfig(steps_per_task=1_000_000))
    assert all(t.steps == 1_000_000 for t in paper.tasks)


def test_ray_executor_without_ray_names_the_extra(tmp_path, monkeypatch):
    import sys

    from jacwrap.reproduce.errors import ExecutorError

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    out = tmp_path / "never"
    with pytest.raises(ExecutorError, match=r"jacwrap\[ray\]"):
        reproduce(TINY, out, executor="ray", stream=io.StringIO())
    assert not out.exists()


@pytest.mark.slow
def test_ray_executor_gives_the_same_tables(run_a, tmp_path):
    """The same run as Ray tasks on a local Ray instance of 2 CPUs (started here)."""
    import ray

    ref, _, _ = run_a
    out = tmp_path / "ray"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        log = io.StringIO()
        result = reproduce(TINY, out, executor="ray", stream=log)
    finally:
        ray.shutdown()
    assert len(result.ran) == 2 * UNITS_PER_TASK
    for table in TABLES:
        assert _rows(out / f"tables/{table}.csv") == _rows(ref / f"tables/{table}.csv"), table
    assert _fit_rows(out) == _fit_rows(ref)
    m = json.loads((out / "manifest.json").read_text())
    assert m["sessions"][0]["executor"] == "ray" and len(m["units"]) == 2 * UNITS_PER_TASK
    for task in TASKS:  # the same steps (the headers differ in their creation time)
        for p, q in zip(_recordings(out, task), _recordings(ref, task), strict=True):
            with open_recording(p) as a, open_recording(q) as b:
                x, y = a.read(0, a.num_steps), b.read(0, b.num_steps)
            for name in ("action", "state", "next_state", "jac_state", "jac_action", "reward"):
                np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
