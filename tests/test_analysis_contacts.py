"""The contact section of ``jacwrap analyze`` on recordings with planted contacts, and the
"no contact data" sentence for version 1 files (every other analysis still runs).

The planted file (two episodes of 20 steps, pairs ``floor:foot`` and ``floor:hand``, chunks
of 12 steps so that the change at global step 12 lies on a chunk boundary) is written with
the real RecordingWriter; every expected number below is counted by hand from the plant:

- zero-mask changes A: episode 0 at t = 5, 12 (J_s[0, 1] zero on [5, 12)), episode 1 at
  t = 10 (J_a[1, 0] zero on [10, 20));
- contact-set changes B: episode 0 at t = 4, 15 (foot on [4, 15)), episode 1 at t = 3
  (foot on [0, 3)) and t = 10 (hand on [10, 20));
- within one step: 5 ~ 4 and 10 ~ 10, so share (a) = 2/3, share (b) = 2/4;
- chance (docs in jacwrap.analysis.contact_stats): N = 19 opportunities per episode, every
  event interior (w = 3): chance (a) = pi(19, 3, 2); chance (b) = (2 pi(19, 3, 2) +
  2 pi(19, 3, 1)) / 4 (episode 1 has one mask change), pi(19, 3, 1) = 3/19;
- contact sets over the 40 finite steps: {} 16 steps, {floor:foot} 14, {floor:hand} 10;
  J_s sparsity 0.25 on episode 0's [5, 12) (all in {floor:foot}: 7 * 0.25 / 14 = 0.125),
  J_a sparsity 0.5 on episode 1's [10, 20) (all of {floor:hand});
- elements: J_s[0, 1] switches twice (5 near a foot change, 12 near none): best pair
  floor:foot, share 1/2, chance pi(19, 3, 2); J_a[1, 0] switches once (10, with the hand):
  best pair floor:hand, share 1, chance 3/19.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from jacwrap.analysis import figures
from jacwrap.analysis.contact_stats import PHASE_COLOURS, contact_phases
from jacwrap.analysis.report import analyze
from jacwrap.recording import RecordingHeader, RecordingWriter, open_recording

ROOT = Path(__file__).resolve().parent.parent
V1_FILES = (
    ROOT / "recordings" / "demo-CartpoleBalance.jwr",
    ROOT / "tests/data/v1/cartpole-f32.jwr",
)
PAIRS = ("floor:foot", "floor:hand")
T = 20


def pi(n: int, w: int, b: int) -> float:
    return 1 - math.comb(n - w, b) / math.comb(n, b)


def planted_header(pairs=PAIRS) -> RecordingHeader:
    return RecordingHeader(
        env_name="ToyContact",
        nq=1,
        nv=1,
        nu=1,
        obs_dim=2,
        state_labels=("qpos:j0", "qvel:j0"),
        action_labels=("act:u",),
        threshold=1e-12,
        contact_pairs=pairs,
        format_version=2,
    )


def planted_arrays() -> dict[str, np.ndarray]:
    """Jacobians 0.5 except the planted zeros; contact masks as in the module docstring."""
    js = np.full((2, T, 2, 2), 0.5)
    ja = np.full((2, T, 2, 1), 0.5)
    js[0, 5:12, 0, 1] = 0.0
    ja[1, 10:, 1, 0] = 0.0
    contacts = np.zeros((2, T, 2), bool)
    contacts[0, 4:15, 0] = True
    contacts[1, :3, 0] = True
    contacts[1, 10:, 1] = True
    return {
        "jac_state": js.reshape(2 * T, 2, 2),
        "jac_action": ja.reshape(2 * T, 2, 1),
        "contacts": contacts.reshape(2 * T, 2),
    }


def write_planted(path: Path) -> Path:
    a = planted_arrays()
    k = 2 * T
    c = a["contacts"]
    with RecordingWriter(path, planted_header(), max_chunk_steps=12) as w:
        w.add_batch(
            obs=np.zeros((k, 2)),
            action=np.zeros((k, 1)),
            reward=np.ones(k),
            terminated=np.zeros(k, bool),
            truncated=np.tile(np.arange(T) == T - 1, 2),
            state=np.zeros((k, 2)),
            next_state=np.zeros((k, 2)),
            jac_state=a["jac_state"],
            jac_action=a["jac_action"],
            contacts=c,
            contacts_start=c,
            n_contacts=2 * c.sum(1).astype(np.int32),
            n_constraints=6 * c.sum(1).astype(np.int32),
            env_indices=[0] * k,
        )
    return path


def copy_steps(w: RecordingWriter, s) -> None:
    """Write the steps ``s`` read from a recording (the fields ``w`` takes) as env 0's."""
    w.add_batch(
        **{f: getattr(s, f) for f in w.fields if getattr(s, f, None) is not None},
        env_indices=[0] * len(s),
    )


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def planted_out(tmp_path_factory):
    d = tmp_path_factory.mktemp("contacts")
    rec = write_planted(d / "planted.jwr")
    with open_recording(rec) as r:  # the plant is what the test thinks it is
        assert r.num_chunks == 4 and [e.length for e in r.episodes] == [T, T]
    messages: list[str] = []
    res = analyze([rec], d / "out", tsne=False, warn=messages.append)
    assert res.ok and not res.skipped and not messages
    return d / "out" / "ToyContact", res


def test_planted_alignment_shares_exactly(planted_out):
    env, _ = planted_out
    a, b = rows(env / "contacts_alignment.csv")
    assert (a["events_of"], a["near"], b["events_of"], b["near"]) == (
        "zero_mask", "contact_change", "contact_set", "zero_mask_change",
    )  # fmt: skip
    assert (int(a["events"]), int(a["coinciding"]), float(a["share"])) == (3, 2, 2 / 3)
    assert (int(b["events"]), int(b["coinciding"]), float(b["share"])) == (4, 2, 0.5)
    assert float(a["chance"]) == pytest.approx(pi(19, 3, 2), rel=1e-12)
    assert float(b["chance"]) == pytest.approx((2 * pi(19, 3, 2) + 2 * 3 / 19) / 4, rel=1e-12)
    assert float(a["ratio"]) == pytest.approx(2 / 3 / pi(19, 3, 2), rel=1e-12)
    assert a["opportunities"] == b["opportunities"] == "38"
    md = (env / "contacts_alignment.md").read_text()
    assert "| zero-mask changes | 3 | a contact change | 0.667 |" in md


def test_planted_contact_sets_and_histogram(planted_out):
    env, _ = planted_out
    sets = [
        (r["contact_set"], int(r["steps"]), float(r["share"]), float(r["mean_sparsity_state"]),
         float(r["mean_sparsity_action"]))
        for r in rows(env / "contacts_sets.csv")
    ]  # fmt: skip
    assert sets == [
        ("{}", 16, 0.4, 0.0, 0.0),
        ("{floor:foot}", 14, 0.35, 0.125, 0.0),
        ("{floor:hand}", 10, 0.25, 0.0, 0.5),
    ]
    assert "| {floor:foot} | 14 | 0.350 | 0.125 | 0.000 |" in (env / "contacts_sets.md").read_text()
    hist = rows(env / "contacts_sparsity_hist.csv")
    by = {(int(r["pairs_in_contact"]), float(r["bin_lo"])): r for r in hist}
    assert {c for c, _ in by} == {0, 1}  # no step with both pairs in contact
    assert [int(by[0, lo]["count_state"]) for lo in (0.0, 0.2)] == [16, 0]
    assert [int(by[1, lo]["count_state"]) for lo in (0.0, 0.2)] == [17, 7]
    assert [int(by[1, lo]["count_action"]) for lo in (0.0, 0.5)] == [14, 10]
    assert sum(int(r["count_state"]) for r in hist) == 40
    assert (env / "contacts_sparsity_hist.png").read_bytes()[:4] == b"\x89PNG"


def test_planted_elements_best_pair(planted_out):
    env, _ = planted_out
    el = {(r["matrix"], r["row"], r["col"]): r for r in rows(env / "contacts_elements.csv")}
    assert set(el) == {("J_s", "0", "1"), ("J_a", "1", "0")}
    s, a = el["J_s", "0", "1"], el["J_a", "1", "0"]
    assert (s["row_label"], s["col_label"], s["switches"], s["pair"]) == (
        "qpos:j0", "qvel:j0", "2", "floor:foot",
    )  # fmt: skip
    assert float(s["share"]) == 0.5
    assert float(s["chance"]) == pytest.approx(pi(19, 3, 2), rel=1e-12)
    assert (a["col_label"], a["switches"], a["pair"], float(a["share"])) == (
        "act:u", "1", "floor:hand", 1.0,
    )  # fmt: skip
    assert float(a["chance"]) == pytest.approx(3 / 19, rel=1e-12)
    md = (env / "contacts_elements.md").read_text()
    assert md.index("| J_s | qpos:j0 | qvel:j0 | 2 | floor:foot |") < md.index("| J_a |")


def test_planted_rollout_summary_and_index(planted_out):
    env, res = planted_out
    ro = rows(env / "q3_rollout.csv")
    labels = ["{}"] * 4 + ["{floor:foot}"] * 11 + ["{}"] * 5
    assert [r["contact_set"] for r in ro] == labels  # the first episode, step by step
    s = json.loads((env / "summary.json").read_text())["contacts"]
    assert s["pairs"] == list(PAIRS) and s["absent"] == [] and s["episodes"] == 2
    assert s["steps_by_pairs_in_contact"] == [16, 24, 0]
    assert s["alignment"][0]["share"] == pytest.approx(2 / 3)
    assert (s["elements_switching"], s["elements_explained"]) == (2, 2)
    index = res.index.read_text()
    section = index[index.index("### What changes the sparsity: contacts") :]
    for name in ("contacts_sets.csv", "contacts_sparsity_hist.png", "contacts_alignment.md",
                 "contacts_elements.csv"):  # fmt: skip
        assert f"ToyContact/{name}" in section
    assert "shaded: its contact phases" in index
    links = {p.relative_to(res.out_dir).as_posix() for p in res.written} - {"index.md"}
    files = {p.relative_to(res.out_dir).as_posix() for p in res.out_dir.rglob("*") if p.is_file()}
    assert links == files - {"index.md"}


def test_rollout_panel_shades_each_phase():
    """The Q3 rollout panel on an Agg figure: one patch per contact phase, spanning its
    steps, one colour per contact set (the most covered set first)."""
    contacts = planted_arrays()["contacts"][:T]
    phases = contact_phases(contacts)
    assert [(p.t0, p.t1) for p in phases] == [(0, 4), (4, 15), (15, 20)]
    ax = Figure().add_subplot()
    sp = np.zeros((T, 3))
    figures.draw_rollout(ax, np.arange(T), sp, "title", phases, PAIRS)
    assert len(ax.patches) == 3
    spans = [(p.get_x(), p.get_x() + p.get_width()) for p in ax.patches]
    assert spans == [(-0.5, 3.5), (3.5, 14.5), (14.5, 19.5)]
    colours = [p.get_facecolor()[:3] for p in ax.patches]
    assert colours[0] == colours[2] != colours[1]  # {} twice, {floor:foot} once
    from matplotlib.colors import to_rgb

    assert colours[1] == to_rgb(PHASE_COLOURS[0])  # {floor:foot} covers most steps (11)
    legends = [c for c in ax.get_children() if type(c).__name__ == "Legend"]
    texts = sorted(t.get_text() for lg in legends for t in lg.get_texts())
    assert texts == sorted(["J_s", "J_a", "{floor:foot}", "{}"])  # both legends kept
    bare = Figure().add_subplot()
    figures.draw_rollout(bare, np.arange(T), sp, "title")
    assert len(bare.patches) == 0


@pytest.mark.parametrize("v1", V1_FILES, ids=lambda p: p.name)
def test_version1_recording_analyses_fully_and_says_no_contact_data(v1, tmp_path):
    res = analyze([v1], tmp_path / "out", tsne=False)
    assert res.ok and not res.skipped
    (g,) = res.groups
    env = tmp_path / "out" / g.label
    for name in ("q2_zero_pct.png", "q2_sparsity_hist.png", "q3_rollout.png",
                 "q3_run_lengths.png", "q3_mean_durations.csv", "summary.json"):  # fmt: skip
        assert (env / name).is_file(), name
    assert not list(env.glob("contacts_*"))
    assert "contact_set" not in rows(env / "q3_rollout.csv")[0]
    index = res.index.read_text()
    section = index[index.index("### What changes the sparsity: contacts") :]
    sentence = f"no contact data in this recording (recorded before format version 2, or without contacts): {v1}"
    assert section.split("\n")[2] == f"- {sentence}"
    assert "Files:" in section  # the summary follows: every other analysis ran
    s = json.loads((env / "summary.json").read_text())
    assert s["contacts"] == {"pairs": None, "files": [], "absent": [sentence]}
    assert s["steps"] == g.stats.steps > 0


def test_mixed_group_reports_the_file_without_contacts(tmp_path):
    """A version 1 file next to a planted one: the statistics are the planted file's alone,
    the version 1 file is named with the sentence; a file with other pair labels is skipped."""
    planted = write_planted(tmp_path / "planted.jwr")
    old = tmp_path / "old.jwr"
    with open_recording(planted) as r:
        hdr = dataclasses.replace(r.header, contact_pairs=None)
        s = r.read(0, len(r))
    with RecordingWriter(old, hdr) as w:
        copy_steps(w, s)
    other = tmp_path / "other.jwr"
    renamed = planted_header(("floor:a", "floor:b"))
    with open_recording(planted) as r, RecordingWriter(other, renamed) as w:
        s = r.read(0, len(r))
        copy_steps(w, s)
    messages: list[str] = []
    res = analyze([old, planted, other], tmp_path / "out", tsne=False, warn=messages.append)
    assert [p for p, _ in res.skipped] == [str(other)]
    assert "contact pair labels differ" in res.skipped[0][1]
    (g,) = res.groups
    assert g.files == [str(old), str(planted)] and g.contact_files == [str(planted)]
    env = tmp_path / "out" / "ToyContact"
    a, _ = rows(env / "contacts_alignment.csv")
    assert (a["events"], a["coinciding"]) == ("3", "2")  # the planted file's alone
    assert "contact_set" not in rows(env / "q3_rollout.csv")[0]  # the rollout is old.jwr's
    index = res.index.read_text()
    assert (
        f"no contact data in this recording (recorded before format version 2, or without contacts): {old}"
        in index
    )
