"""``analyze`` / ``jacwrap analyze`` on synthetic .jwr recordings with known answers, bad input.

The planted recording holds the data set of tests/analysis_data.py (hand-computed answers
there); it is written with the real RecordingWriter and read back by the real reader.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from analysis_data import make_steps, planted

from jacwrap.analysis.report import analyze, collect
from jacwrap.cli import main
from jacwrap.recording import RecordingHeader, RecordingWriter


def header(env="Toy", n_joints=1, threshold=1e-12) -> RecordingHeader:
    names = [f"j{i}" for i in range(n_joints)]
    return RecordingHeader(
        env_name=env,
        nq=n_joints,
        nv=n_joints,
        nu=1,
        obs_dim=2 * n_joints,
        state_labels=tuple([f"qpos:{j}" for j in names] + [f"qvel:{j}" for j in names]),
        action_labels=("act:u",),
        threshold=threshold,
    )


def write(path: Path, steps, hdr: RecordingHeader | None = None) -> Path:
    """Write Steps-like arrays; an episode ends where the next step's episode index changes."""
    hdr = hdr or header()
    k = steps.finite.shape[0]
    ends = np.append(steps.episode[1:] != steps.episode[:-1], True)
    with RecordingWriter(path, hdr) as w:
        for i in range(k):
            w.add(
                obs=np.zeros(hdr.obs_dim),
                action=steps.action[i],
                reward=0.0,
                terminated=False,
                truncated=bool(ends[i]),
                state=steps.state[i],
                next_state=steps.next_state[i],
                jac_state=steps.jac_state[i],
                jac_action=steps.jac_action[i],
            )
    return path


def random_steps(k: int, n: int, m: int = 1, episodes: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    zs, za = rng.random((k, n, n)) < 0.4, rng.random((k, n, m)) < 0.4
    return make_steps(zs, za, np.repeat(np.arange(episodes), -(-k // episodes))[:k],
                      np.arange(k), seed=seed)  # fmt: skip


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def index_links(index: Path) -> list[str]:
    return re.findall(r"\]\(([^)]+)\)", index.read_text())


def test_planted_recording_known_answers(tmp_path):
    rec = write(tmp_path / "toy.jwr", planted())
    messages: list[str] = []
    res = analyze([rec], tmp_path / "out", tsne_cap=50, warn=messages.append)
    assert res.ok and not res.skipped and not messages
    out = tmp_path / "out"
    (row,) = read_csv(out / "q1_global_sparsity.csv")
    assert row["env"] == "Toy" and row["state_dim"] == "2" and row["action_dim"] == "1"
    assert (row["state_zeros"], float(row["state_zeros_pct"])) == ("1", 25.0)
    assert (row["action_zeros"], float(row["action_zeros_pct"])) == ("1", 50.0)
    assert (row["samples"], row["nonfinite_excluded"]) == ("20", "1")
    assert (
        "| Toy | 2 | 1 | 1 (25.0%) | 1 (50.0%) | 20 | 1 |"
        in (out / "q1_global_sparsity.md").read_text()
    )
    assert json.loads((out / "q1_global_sparsity.json").read_text())[0]["state_zeros"] == 1

    pct = read_csv(out / "Toy" / "q2_zero_pct_state.csv")
    assert [[r[""], float(r["qpos:j0"]), float(r["qvel:j0"])] for r in pct] == [
        ["qpos:j0", 100.0, 30.0],
        ["qvel:j0", 0.0, 75.0],
    ]
    hist = read_csv(out / "Toy" / "q2_sparsity_hist.csv")
    assert [float(r["density_state"]) for r in hist] == [0, 0, 2.0, 0, 0, 5.5, 0, 2.5, 0, 0]
    assert [int(r["count_action"]) for r in hist] == [0, 0, 0, 0, 0, 15, 0, 0, 0, 5]

    el = {
        (r["matrix"], r["row"], r["col"]): r
        for r in read_csv(out / "Toy" / "q3_mean_durations.csv")
    }
    assert float(el["J_s", "0", "1"]["mean_zero_run"]) == 2.0
    assert float(el["J_s", "0", "1"]["mean_nonzero_run"]) == pytest.approx(14 / 3)
    assert (
        el["J_s", "0", "0"]["mean_zero_run"] == "nan"
        and el["J_s", "0", "0"]["global_zero"] == "True"
    )
    assert float(el["J_a", "1", "0"]["mean_zero_run"]) == 5.0
    runs = {int(r["length"]): r for r in read_csv(out / "Toy" / "q3_run_lengths.csv")}
    assert {L: int(r["zero_J_s"]) for L, r in runs.items() if int(r["zero_J_s"])} == {
        1: 6,
        2: 1,
        3: 1,
    }
    rollout = read_csv(out / "Toy" / "q3_rollout.csv")
    assert [float(r["state"]) for r in rollout] == [
        0.5,
        0.25,
        0.75,
        0.5,
        0.75,
        0.25,
        0.5,
        0.25,
        0.5,
        0.25,
    ]

    summary = json.loads((out / "Toy" / "summary.json").read_text())
    assert summary["global_zero_state"] == ["qpos:j0 <- qpos:j0"]
    assert summary["mean_run"]["zero_J_s"] == pytest.approx(11 / 8)
    assert summary["tsne"]["samples"] == 20 and summary["tsne"]["episodes"] == 2

    # index.md links every written file, in order, and every link exists.
    links = index_links(res.index)
    assert all((out / link).is_file() for link in links)
    written = {p.relative_to(out).as_posix() for p in res.written} - {"index.md"}
    assert written == set(links)
    assert written == {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {
        "index.md"
    }
    pngs = [link for link in links if link.endswith(".png")]
    assert [Path(p).stem for p in pngs] == ["q2_zero_pct", "q2_sparsity_hist", "q2_tsne",
                                            "q3_rollout", "q3_run_lengths"]  # fmt: skip
    for p in pngs:
        assert (out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "cap 50 samples" in res.index.read_text()


def test_bad_inputs_reported_and_others_analysed(tmp_path, capsys):
    good = write(tmp_path / "good.jwr", planted())
    other_env = write(tmp_path / "other.jwr", random_steps(12, 4, episodes=2), header("Toy2", 2))
    empty = tmp_path / "empty.jwr"
    RecordingWriter(empty, header()).close()
    corrupt = write(tmp_path / "corrupt.jwr", random_steps(30, 2, seed=3))
    raw = bytearray(corrupt.read_bytes())
    mid = len(raw) // 2
    raw[mid : mid + 16] = bytes(16)
    corrupt.write_bytes(bytes(raw))
    garbage = tmp_path / "garbage.jwr"
    garbage.write_bytes(b"not a recording at all" * 10)
    missing = tmp_path / "missing.jwr"
    clash = write(tmp_path / "clash.jwr", random_steps(5, 4), header("Toy", 2))
    allnan = random_steps(6, 2, seed=5)
    allnan.jac_state[:] = np.nan
    all_nonfinite = write(tmp_path / "nan.jwr", allnan, header("ToyNaN"))
    files = [empty, good, corrupt, garbage, other_env, missing, clash, all_nonfinite]
    code = main(["analyze", *map(str, files), "--out", str(tmp_path / "out"), "--no-tsne"])
    err = capsys.readouterr().err
    assert code == 0
    for bad in (empty, corrupt, garbage, missing, clash):
        assert re.search(rf"skipping {re.escape(str(bad))}: .+", err), err
    assert "empty recording" in err and "dims (4, 1) differ from (2, 1)" in err
    rows = read_csv(tmp_path / "out" / "q1_global_sparsity.csv")
    assert [(r["env"], r["state_dim"], r["samples"], r["nonfinite_excluded"]) for r in rows] == [
        ("Toy", "2", "20", "1"),
        ("Toy2", "4", "12", "0"),
        ("ToyNaN", "2", "0", "6"),
    ]
    index = (tmp_path / "out" / "index.md").read_text()
    assert index.count("- skipped ") == 5 and "not drawn, disabled" in index
    assert all(
        (tmp_path / "out" / link).is_file() for link in index_links(tmp_path / "out" / "index.md")
    )


def test_nothing_analysable_exits_nonzero(tmp_path, capsys):
    empty = tmp_path / "empty.jwr"
    RecordingWriter(empty, header()).close()
    code = main(["analyze", str(empty), str(tmp_path / "nope.jwr"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "no recording could be analysed" in err
    assert str(empty) in err and "nope.jwr" in err
    assert not (tmp_path / "o").exists()


def test_files_of_one_env_merge_and_thresholds_never_mix(tmp_path):
    a = write(tmp_path / "a.jwr", planted())
    b = write(tmp_path / "b.jwr", planted())
    c = write(tmp_path / "c.jwr", planted(), header(threshold=1e-6))
    groups, skipped = collect([a, b, c], tsne_cap=30, tsne_episodes=3, warn=print)
    assert not skipped
    assert [g.label for g in groups] == ["Toy@thr=1e-12", "Toy@thr=1e-06"]
    g = groups[0]
    assert g.files == [str(a), str(b)]
    assert g.stats.zeros.samples == 40 and g.stats.zeros.nonfinite == 2
    np.testing.assert_array_equal(g.stats.zeros.zero_pct_state, [[100.0, 30.0], [0.0, 75.0]])
    assert g.stats.runs.state.episodes == 4
    assert g.stats.runs.state.zero_hist.tolist() == [0, 12, 2, 2]
    # t-SNE: the first 3 episodes over both files (a's two, b's first): 10 + 10 + 10 finite.
    assert g.stats.tsne.eligible == 30 and len(g.stats.tsne.episodes) == 3
    assert groups[1].stats.zeros.samples == 20
    res = analyze([a, c], tmp_path / "out", tsne=False)
    assert (tmp_path / "out" / "Toy@thr=1e-06" / "q2_zero_pct.png").is_file()
    assert [r["env"] for r in read_csv(tmp_path / "out" / "q1_global_sparsity.csv")] == [
        g.label for g in res.groups
    ]
