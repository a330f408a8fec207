"""``jacwrap summary`` rows against values computed by hand on a tiny synthetic recording."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math

import numpy as np
import pytest
from synthetic_recordings import synthetic_header

from jacwrap.commands import summary as summary_cmd
from jacwrap.recording import RecordingWriter, open_recording
from jacwrap.recording.summary import SUMMARY_KEYS, summarize, to_table

Z, N = 0.0, 0.5  # a zero and a non-zero Jacobian entry

# Episode 0 (6 steps): per element, its values over time.
EP0_JS = {
    (0, 0): [Z, Z, Z, Z, Z, Z],  # always zero
    (0, 1): [Z, Z, N, N, N, Z],  # runs: zero 2, non-zero 3, zero 1
    (1, 0): [N, N, N, N, N, N],
    (1, 1): [N, Z, N, N, N, N],  # runs: non-zero 1, zero 1, non-zero 4
}
EP0_JA = {(0, 0): [Z] * 6, (1, 0): [N, N, N, N, Z, N]}  # runs: non-zero 4, zero 1, non-zero 1
EP0_REWARD = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]

# Episode 1 (4 steps): step 2 has a NaN in J_s and is left out of every statistic.
NAN = float("nan")
EP1_JS = {
    (0, 0): [Z, Z, Z, Z],
    (0, 1): [N, Z, N, N],  # finite steps: N Z N
    (1, 0): [N, N, NAN, N],
    (1, 1): [N, N, N, N],
}
EP1_JA = {(0, 0): [N, N, N, N], (1, 0): [Z, Z, N, Z]}  # finite steps: always zero
EP1_REWARD = [0.5, 0.25, -1.0, 2.0]

EXPECTED = [
    {
        "env": "Synthetic",
        "episode": 0,
        "env_index": 0,
        "complete": True,
        "steps": 6,
        "finite_steps": 6,
        "return": 21.0,
        # zeros per step in J_s (of 4): 2 3 1 1 1 2; in J_a (of 2): 1 1 1 1 2 1
        "sparsity_state_mean": 10 / 24,
        "sparsity_state_min": 0.25,
        "sparsity_state_max": 0.75,
        "sparsity_action_mean": 7 / 12,
        "sparsity_action_min": 0.5,
        "sparsity_action_max": 1.0,
        # combined zeros (of 6): 3 4 2 2 3 3
        "sparsity_combined_mean": 17 / 36,
        "sparsity_combined_min": 1 / 3,
        "sparsity_combined_max": 2 / 3,
        "always_zero_state": 1,
        "always_zero_state_pct": 25.0,
        "always_zero_action": 1,
        "always_zero_action_pct": 50.0,
        "switches": 6,
        "mean_zero_run": (2 + 1 + 1 + 1) / 4,
        "mean_nonzero_run": (3 + 1 + 4 + 4 + 1) / 5,
    },
    {
        "env": "Synthetic",
        "episode": 1,
        "env_index": 0,
        "complete": True,
        "steps": 4,
        "finite_steps": 3,
        "return": 1.75,
        # finite steps 0, 1, 3: J_s zeros 1 2 1; J_a zeros 1 1 1; combined 2 3 2
        "sparsity_state_mean": 1 / 3,
        "sparsity_state_min": 0.25,
        "sparsity_state_max": 0.5,
        "sparsity_action_mean": 0.5,
        "sparsity_action_min": 0.5,
        "sparsity_action_max": 0.5,
        "sparsity_combined_mean": 7 / 18,
        "sparsity_combined_min": 1 / 3,
        "sparsity_combined_max": 0.5,
        "always_zero_state": 1,
        "always_zero_state_pct": 25.0,
        "always_zero_action": 1,
        "always_zero_action_pct": 50.0,
        "switches": 2,
        "mean_zero_run": 1.0,
        "mean_nonzero_run": 1.0,
    },
]


def _jacobians(js_spec, ja_spec, k):
    js = np.zeros((k, 2, 2))
    ja = np.zeros((k, 2, 1))
    for (i, j), vals in js_spec.items():
        js[:, i, j] = vals
    for (i, j), vals in ja_spec.items():
        ja[:, i, j] = vals
    return js, ja


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    header = synthetic_header(2, 1, 3)
    path = tmp_path_factory.mktemp("s") / "synthetic.jwr"
    with RecordingWriter(path, header, max_chunk_steps=4) as w:
        for js_spec, ja_spec, rewards in (
            (EP0_JS, EP0_JA, EP0_REWARD),
            (EP1_JS, EP1_JA, EP1_REWARD),
        ):
            k = len(rewards)
            js, ja = _jacobians(js_spec, ja_spec, k)
            for t in range(k):
                w.add(
                    0,
                    obs=np.zeros(3),
                    action=np.zeros(1),
                    reward=rewards[t],
                    terminated=False,
                    truncated=t == k - 1,
                    state=np.zeros(2),
                    next_state=np.zeros(2),
                    jac_state=js[t],
                    jac_action=ja[t],
                )
    return path


def _check(rows):
    assert len(rows) == len(EXPECTED)
    for row, want in zip(rows, EXPECTED, strict=True):
        for key, value in want.items():
            assert row[key] == pytest.approx(value, rel=1e-12), key


def test_rows_match_hand_computed_values(recording):
    with open_recording(recording) as rec:
        rows = summarize(rec)
    assert list(rows[0]) == list(SUMMARY_KEYS)
    assert rows[0]["file"] == str(recording)
    _check(rows)


def test_json_keys_are_stable(recording, tmp_path, capsys):
    out = tmp_path / "s.json"
    args = argparse.Namespace(files=[str(recording)], format="json", out=str(out))
    assert summary_cmd.run(args) == 0
    rows = json.loads(out.read_text())
    from jacwrap.recording.summary import CONTACT_KEYS

    # the version 1 keys, in their order, then the contact columns added with format 2
    assert [list(r) for r in rows] == [
        [
            "file",
            "env",
            "episode",
            "env_index",
            "complete",
            "steps",
            "finite_steps",
            "return",
            "sparsity_state_mean",
            "sparsity_state_min",
            "sparsity_state_max",
            "sparsity_action_mean",
            "sparsity_action_min",
            "sparsity_action_max",
            "sparsity_combined_mean",
            "sparsity_combined_min",
            "sparsity_combined_max",
            "always_zero_state",
            "always_zero_state_pct",
            "always_zero_action",
            "always_zero_action_pct",
            "switches",
            "mean_zero_run",
            "mean_nonzero_run",
            *CONTACT_KEYS,
        ]
    ] * 2
    _check(rows)
    assert capsys.readouterr().out.strip() == str(out)


def test_csv_and_table(recording, tmp_path, capsys):
    args = argparse.Namespace(files=[str(recording)] * 2, format="csv", out=None)
    summary_cmd.run(args)
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 4
    assert float(rows[1]["sparsity_combined_mean"]) == pytest.approx(7 / 18)
    assert rows[2]["switches"] == "6"
    summary_cmd.run(argparse.Namespace(files=[str(recording)], format="table", out=None))
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 4
    assert table[0].split()[:5] == ["env", "ep", "env#", "steps", "return"]
    assert "0.417 [0.250,0.750]" in table[2] and "1 (25.0%)" in table[2]
    assert "21.00" in table[2] and "1.25" in table[2] and "2.60" in table[2]
    copy = tmp_path / "copy.jwr"
    copy.write_bytes(recording.read_bytes())
    summary_cmd.run(argparse.Namespace(files=[str(recording), str(copy)], format="table", out=None))
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["file", "env"] and table[-1].startswith(str(copy))


def test_undefined_values_are_null_and_marked():
    row = {k: 0 for k in SUMMARY_KEYS} | {
        "env": "E",
        "complete": False,
        "mean_zero_run": math.nan,
        "mean_nonzero_run": math.nan,
        **{
            f"sparsity_{k}_{s}": math.nan
            for k in ("state", "action", "combined")
            for s in ("mean", "min", "max")
        },
    }
    from jacwrap.recording.summary import to_json

    assert json.loads(to_json([row]))[0]["mean_zero_run"] is None
    line = to_table([row]).splitlines()[2]
    assert line.split()[1] == "0*"  # incomplete episode
    assert "- [-,-]" in line


def test_contact_columns_by_hand(tmp_path):
    """One 20-step episode: the zero mask changes at t = 5 and 12, the contact set at t = 4
    and 15. Mask changes near a contact change: 5 (next to 4) of {5, 12}; contact changes
    near a mask change: 4 of {4, 15}. Chance: each event has w = 3 change positions within
    one step of it, out of N = 19, with b = 2 changes of the other kind placed at random:
    pi = 1 - C(16, 2) / C(19, 2)."""
    import dataclasses

    header = dataclasses.replace(
        synthetic_header(2, 1, 3), contact_pairs=("floor:foot", "floor:hand"), format_version=2
    )
    k = 20
    js = np.full((k, 2, 2), 0.5)
    js[5:12, 0, 1] = 0.0
    contacts = np.zeros((k, 2), bool)
    contacts[4:15, 0] = True
    path = tmp_path / "c.jwr"
    with RecordingWriter(path, header) as w:
        w.add_batch(
            obs=np.zeros((k, 3)),
            action=np.zeros((k, 1)),
            reward=np.ones(k),
            terminated=np.zeros(k, bool),
            truncated=np.arange(k) == k - 1,
            state=np.zeros((k, 2)),
            next_state=np.zeros((k, 2)),
            jac_state=js,
            jac_action=np.full((k, 2, 1), 0.5),
            contacts=contacts,
            contacts_start=contacts,
            n_contacts=contacts.sum(1).astype(np.int32),
            n_constraints=3 * contacts.sum(1).astype(np.int32),
            env_indices=[0] * k,
        )
    with open_recording(path) as rec:
        (row,) = summarize(rec)
    chance = 1 - math.comb(16, 2) / math.comb(19, 2)
    assert row["contact_changes"] == 2 and row["mask_changes"] == 2
    assert row["contact_pairs_mean"] == pytest.approx(11 / 20)
    assert row["mask_changes_at_contact"] == 0.5
    assert row["contact_changes_changing_mask"] == 0.5
    assert row["mask_changes_at_contact_chance"] == pytest.approx(chance, rel=1e-12)
    assert row["contact_changes_changing_mask_chance"] == pytest.approx(chance, rel=1e-12)
    assert "0.50 (0.30)" in to_table([row]).splitlines()[2]


def test_version1_recording_summarises_without_contact_data():
    """The committed version 1 demo: every other column as before, the contact ones null."""
    from pathlib import Path

    from jacwrap.recording.summary import CONTACT_KEYS, to_json

    demo = Path(__file__).resolve().parent.parent / "recordings" / "demo-CartpoleBalance.jwr"
    with open_recording(demo) as rec:
        rows = summarize(rec)
    assert rows[0]["steps"] == 120 and math.isfinite(rows[0]["sparsity_state_mean"])
    for key in CONTACT_KEYS:
        assert json.loads(to_json(rows))[0][key] is None, key
    assert "- (-)" in to_table(rows).splitlines()[2]
