"""Record-then-analyze on CartpoleBalance: every file of index.md, numbers against naive oracles.

The oracles recompute the statistics from the stored Jacobian *values* with plain Python
loops (|J| < threshold; runs by walking each element's series), independently of the
streaming accumulators and of :mod:`jacwrap.episode_stats`.
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest

from jacwrap.cli import main
from jacwrap.recording import open_recording, record_rollouts

EPISODES, STEPS = 2, 200


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory):
    out = tmp_path_factory.mktemp("rec")
    return record_rollouts("CartpoleBalance", "random", EPISODES, STEPS, seed=3, out_dir=out)


def _naive_runs(series: list[bool]) -> list[tuple[bool, int]]:
    runs: list[tuple[bool, int]] = []
    for v in series:
        if runs and runs[-1][0] == v:
            runs[-1] = (v, runs[-1][1] + 1)
        else:
            runs.append((v, 1))
    return runs


def test_record_then_analyze_cartpole(cartpole, tmp_path):
    out = tmp_path / "analysis"
    assert main(["analyze", str(cartpole), "--out", str(out), "--tsne-cap", "120"]) == 0

    index = (out / "index.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", index)
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(links) == on_disk - {"index.md"}
    assert [link.rsplit("/", 1)[-1] for link in links if link.endswith(".png")] == [
        "q2_zero_pct.png",
        "q2_sparsity_hist.png",
        "q2_tsne.png",
        "q3_rollout.png",
        "q3_run_lengths.png",
        "contacts_sparsity_hist.png",  # recorded with contact data (format version 2)
    ]

    with open_recording(cartpole) as rec:
        h = rec.header
        steps = rec.read(0, rec.num_steps)
        episodes = rec.episodes
    assert (h.n, h.m) == (4, 1) and len(episodes) == EPISODES
    finite = np.isfinite(steps.jac_state).all((1, 2)) & np.isfinite(steps.jac_action).all((1, 2))
    zs = np.abs(steps.jac_state[finite]) < h.threshold
    za = np.abs(steps.jac_action[finite]) < h.threshold
    k = int(finite.sum())

    (row,) = list(csv.DictReader((out / "q1_global_sparsity.csv").open()))
    assert row["env"] == "CartpoleBalance" and int(row["samples"]) == k
    assert int(row["nonfinite_excluded"]) == EPISODES * STEPS - k
    assert int(row["state_zeros"]) == int(zs.all(0).sum())
    assert int(row["action_zeros"]) == int(za.all(0).sum())

    pct = list(csv.DictReader((out / "CartpoleBalance" / "q2_zero_pct_state.csv").open()))
    got = np.array([[float(r[c]) for c in h.state_labels] for r in pct])
    np.testing.assert_allclose(got, 100.0 * zs.mean(0), rtol=0, atol=1e-9)

    # Run lengths: walk every element's series in each episode (whole-episode runs excluded).
    zero_runs: list[int] = []
    nonzero_runs: list[int] = []
    for ep in episodes:
        sl = slice(ep.start, ep.stop)
        keep = finite[sl]
        mask = np.concatenate(
            [
                np.abs(steps.jac_state[sl][keep]).reshape(int(keep.sum()), -1) < h.threshold,
                np.abs(steps.jac_action[sl][keep]).reshape(int(keep.sum()), -1) < h.threshold,
            ],
            axis=1,
        )
        for j in range(mask.shape[1]):
            runs = _naive_runs(mask[:, j].tolist())
            if len(runs) > 1:
                zero_runs += [n for v, n in runs if v]
                nonzero_runs += [n for v, n in runs if not v]
    summary = json.loads((out / "CartpoleBalance" / "summary.json").read_text())
    rl = list(csv.DictReader((out / "CartpoleBalance" / "q3_run_lengths.csv").open()))
    hist_zero = {int(r["length"]): int(r["zero_J_s"]) + int(r["zero_J_a"]) for r in rl}
    assert sum(hist_zero.values()) == len(zero_runs)
    assert {L: c for L, c in hist_zero.items() if c} == {
        L: zero_runs.count(L) for L in set(zero_runs)
    }
    if nonzero_runs:
        total_nz = sum(int(r["nonzero_J_s"]) * int(r["length"]) for r in rl) + sum(
            int(r["nonzero_J_a"]) * int(r["length"]) for r in rl
        )
        assert total_nz == sum(nonzero_runs)
    assert summary["steps"] == EPISODES * STEPS and summary["episodes"] == EPISODES
    assert summary["tsne"]["samples"] == min(120, k)

    # Contacts: CartpoleBalance has no candidate pairs, so one contact set, every step.
    assert h.contact_pairs == () and summary["contacts"]["pairs"] == []
    (cset,) = list(csv.DictReader((out / "CartpoleBalance" / "contacts_sets.csv").open()))
    assert (cset["contact_set"], int(cset["steps"]), float(cset["share"])) == ("{}", k, 1.0)
    assert float(cset["mean_sparsity_state"]) == pytest.approx(zs.mean(), rel=1e-12)
    assert "the model has none" in index
