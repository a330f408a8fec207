"""jacwrap.episode_stats against hand-counted examples and a pure-Python loop oracle.

The oracle (``loop_oracle``) walks each element's series step by step with plain Python
lists and integers, independently of the vectorised code; the summary, the analysis
accumulators and the replay app's episode view are then checked against it on the same
masks, so that the three callers provably share one meaning per name.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from analysis_data import make_steps
from hypothesis import given, settings
from hypothesis import strategies as st

from jacwrap.analysis.accumulators import EpisodeRuns
from jacwrap.episode_stats import (
    RunLengths,
    current_run,
    element_runs,
    episode_runs,
    episode_stats,
    percent,
    side_by_side,
    sparsity_stats,
)
from jacwrap.recording.summary import episode_row
from tui.episode import build_episode_view


# --------------------------------------------------------------------------------- oracle
def loop_oracle(mask: list, finite: list[bool]) -> dict:
    """Run statistics of ``mask[t][i][j]`` (nested lists of 0/1) by walking each series.

    Returns per-element dicts keyed by (i, j) and the pooled lists of run lengths.
    """
    kept = [mask[t] for t in range(len(mask)) if finite[t]]
    rows, cols = len(mask[0]), len(mask[0][0])
    out = {"switches": {}, "always": {}, "zero": {}, "nonzero": {}, "zero_all": [], "nz_all": []}
    for i in range(rows):
        for j in range(cols):
            series = [bool(step[i][j]) for step in kept]
            runs = []  # [value, length]
            for v in series:
                if runs and runs[-1][0] == v:
                    runs[-1][1] += 1
                else:
                    runs.append([v, 1])
            out["switches"][i, j] = max(len(runs) - 1, 0)
            out["always"][i, j] = bool(series) and all(series)
            counted = runs if len(runs) > 1 else []  # a whole-episode run is excluded
            out["zero"][i, j] = [n for v, n in counted if v]
            out["nonzero"][i, j] = [n for v, n in counted if not v]
            out["zero_all"] += out["zero"][i, j]
            out["nz_all"] += out["nonzero"][i, j]
    return out


def _mean(xs: list[int]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12)


def check_against_oracle(r: RunLengths, mask: list, finite: list[bool]) -> None:
    o = loop_oracle(mask, finite)
    for (i, j), sw in o["switches"].items():
        assert r.switches[i, j] == sw
        assert bool(r.always_zero[i, j]) == o["always"][i, j]
        assert r.zero_runs[i, j] == len(o["zero"][i, j])
        assert r.nonzero_runs[i, j] == len(o["nonzero"][i, j])
        assert r.zero_steps[i, j] == sum(o["zero"][i, j])
        assert _same(r.mean_zero_per_element[i, j], _mean(o["zero"][i, j]))
        assert _same(r.mean_nonzero_per_element[i, j], _mean(o["nonzero"][i, j]))
    assert r.zero_run_lengths.tolist() == sorted(o["zero_all"])
    assert r.nonzero_run_lengths.tolist() == sorted(o["nz_all"])
    assert _same(r.mean_zero, _mean(o["zero_all"]))
    assert _same(r.mean_nonzero, _mean(o["nz_all"]))
    assert r.always_zero_count == sum(o["always"].values())
    assert r.total_switches == sum(o["switches"].values())


# A tiny planted episode: 7 steps, J_s 2x2, J_a 2x1; step 3 is non-finite (dropped).
PLANT_S = [
    [[1, 0], [1, 1]],
    [[1, 1], [0, 1]],
    [[1, 1], [1, 1]],
    [[0, 0], [0, 0]],  # non-finite
    [[1, 0], [1, 1]],
    [[1, 0], [0, 1]],
    [[1, 1], [0, 1]],
]
PLANT_A = [[[0], [1]], [[0], [1]], [[1], [1]], [[1], [1]], [[1], [0]], [[0], [0]], [[0], [0]]]
PLANT_F = [True, True, True, False, True, True, True]


def test_planted_episode_hand_counted():
    # Kept steps 0,1,2,4,5,6. J_s (0,0): always zero. (0,1): 0 1 1 0 0 1 -> non-zero runs
    # 1, 2; zero runs 2, 1. (1,0): 1 0 1 1 0 0 -> zero 1, 2; non-zero 1, 2. (1,1): always zero.
    r = episode_runs(np.array(PLANT_S, bool), np.array(PLANT_F))
    assert r.episodes == 1
    assert r.switches.tolist() == [[0, 3], [3, 0]]
    assert r.always_zero.tolist() == [[True, False], [False, True]]
    assert r.zero_runs.tolist() == [[0, 2], [2, 0]]
    assert r.zero_steps.tolist() == [[0, 3], [3, 0]]
    assert r.zero_hist.tolist() == [0, 2, 2]
    assert r.mean_zero == 1.5 and r.mean_nonzero == 1.5
    assert r.always_zero_pct == 50.0
    # J_a (0,0): 0 0 1 1 0 0 -> zero run 2, non-zero runs 2, 2. (1,0): 1 1 1 0 0 0 -> 3, 3.
    a = episode_runs(np.array(PLANT_A, bool), np.array(PLANT_F))
    assert a.zero_run_lengths.tolist() == [2, 3] and a.nonzero_run_lengths.tolist() == [2, 2, 3]
    assert a.mean_zero == 2.5 and a.mean_nonzero == 7 / 3
    assert a.always_zero_count == 0
    check_against_oracle(r, PLANT_S, PLANT_F)
    check_against_oracle(a, PLANT_A, PLANT_F)
    # [J_s | J_a]: pooled over all six elements: zero runs 2,1,1,2,2,3; non-zero 1,2,1,2,2,2,3
    c = side_by_side(r, a)
    combined = [[s[i] + a_[i] for i in range(2)] for s, a_ in zip(PLANT_S, PLANT_A, strict=True)]
    check_against_oracle(c, combined, PLANT_F)
    assert c.mean_zero == 11 / 6 and c.mean_nonzero == 13 / 7 and c.total_switches == 9


masks = st.integers(1, 9).flatmap(
    lambda t: st.tuples(
        st.lists(st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=2,
                          max_size=2), min_size=t, max_size=t),
        st.lists(st.booleans(), min_size=t, max_size=t),
    )
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(masks)
def test_random_masks_match_loop_oracle(data):
    mask, finite = data
    r = episode_runs(np.array(mask, bool), np.array(finite))
    assert r.episodes == int(any(finite))
    check_against_oracle(r, mask, finite)


def test_three_callers_agree_with_the_oracle():
    """The summary row, the analysis accumulator and the replay app on one episode."""
    zs, za, fin = np.array(PLANT_S, bool), np.array(PLANT_A, bool), np.array(PLANT_F)
    steps = make_steps(zs, za, np.zeros(7), np.arange(7), finite=fin)
    steps.reward = np.ones(7)
    steps.has_contacts, steps.contacts = False, None  # no contact data (summary: NaN there)
    combined = [[s[i] + a[i] for i in range(2)] for s, a in zip(PLANT_S, PLANT_A, strict=True)]
    o = loop_oracle(combined, PLANT_F)
    row = episode_row(steps)
    assert row["switches"] == sum(o["switches"].values()) == 9
    assert row["mean_zero_run"] == _mean(o["zero_all"]) == 11 / 6
    assert row["mean_nonzero_run"] == _mean(o["nz_all"])
    assert (row["always_zero_state"], row["always_zero_state_pct"]) == (2, 50.0)
    assert (row["always_zero_action"], row["always_zero_action_pct"]) == (0, 0.0)
    assert row["finite_steps"] == 6 and row["sparsity_state_max"] == 1.0

    acc = EpisodeRuns(2, 1)
    acc.update(steps)
    acc.finish()
    check_against_oracle(acc.state, PLANT_S, PLANT_F)
    check_against_oracle(acc.action, PLANT_A, PLANT_F)

    info = SimpleNamespace(index=0, start=0, ret=7.0, complete=True)
    view = build_episode_view(info, [steps])
    check_against_oracle(view.stats_state, PLANT_S, PLANT_F)
    check_against_oracle(view.stats_action, PLANT_A, PLANT_F)
    mz, mnz, sw = view.element_stats(0, 1)
    assert (mz, mnz, sw) == (_mean(o["zero"][0, 1]), _mean(o["nonzero"][0, 1]), 3)


def test_merge_adds_episodes_and_shapes_must_match():
    zs = np.array(PLANT_S, bool)
    two = episode_runs(zs[:3])
    two.merge(episode_runs(zs[4:]))
    assert two.episodes == 2
    assert two.episodes_always_zero.tolist() == [[2, 0], [0, 2]]
    assert two.always_zero.tolist() == [[True, False], [False, True]]
    assert two.zero_run_lengths.tolist() == [1, 1, 1, 1, 2]  # (0,1): 2 | 1; (1,0): 1, 1 | 1
    with pytest.raises(ValueError, match="shape"):
        two.merge(RunLengths((2, 1)))
    with pytest.raises(ValueError, match="episodes"):
        side_by_side(two, episode_runs(zs[:2, :, :1]))


def test_sparsity_stats_and_percent():
    sp = np.array([[0.5, 1.0, 0.6], [np.nan] * 3, [0.25, 0.0, 0.2]])
    got = sparsity_stats(sp, np.array([True, False, True]))
    assert got == {"state": (0.375, 0.25, 0.5), "action": (0.5, 0.0, 1.0),
                   "combined": (pytest.approx(0.4), 0.2, 0.6)}  # fmt: skip
    assert all(math.isnan(v) for t in sparsity_stats(sp, np.zeros(3, bool)).values() for v in t)
    assert percent(3, 12) == 25.0 and math.isnan(percent(0, 0))
    np.testing.assert_array_equal(percent(np.array([1, 2]), 4), [25.0, 50.0])
    assert np.isnan(percent(np.array([1, 2]), 0)).all()


# ------------------------------------------------- formerly tests/test_runs.py (run_stats)
def test_element_runs_hand_example():
    lengths, values = element_runs(np.array([1, 1, 0, 0, 0, 1, 0], bool))
    assert lengths.tolist() == [2, 3, 1, 1]
    assert values.tolist() == [True, False, True, False]


def test_run_stats_planted_patterns():
    t = 10
    mask = np.zeros((t, 2, 2), bool)
    mask[:, 0, 0] = True  # always zero: a whole-episode run, excluded
    mask[:, 0, 1] = [1, 1, 1, 0, 0, 1, 1, 1, 1, 0]  # zero runs 3, 4; non-zero runs 2, 1
    mask[:, 1, 0] = False  # never zero: excluded
    mask[:, 1, 1] = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]  # alternating: 5 zero, 5 non-zero of 1
    st_ = episode_runs(mask)
    assert st_.always_zero.tolist() == [[True, False], [False, False]]
    assert st_.switches.tolist() == [[0, 3], [0, 9]]
    assert sorted(st_.zero_run_lengths.tolist()) == [1, 1, 1, 1, 1, 3, 4]
    assert sorted(st_.nonzero_run_lengths.tolist()) == [1, 1, 1, 1, 1, 1, 2]
    assert st_.mean_zero == pytest.approx(12 / 7)
    assert st_.mean_nonzero == pytest.approx(8 / 7)
    assert st_.mean_zero_per_element[0, 1] == pytest.approx(3.5)
    assert np.isnan(st_.mean_zero_per_element[0, 0])
    assert st_.total_switches == 12


def test_run_stats_drops_nonfinite_steps():
    mask = np.array([[1], [0], [1], [1]], bool)
    st_ = episode_runs(mask, finite=np.array([True, False, True, True]))
    assert st_.switches.tolist() == [0] and st_.always_zero.tolist() == [True]
    assert st_.zero_run_lengths.size == 0


def test_episode_with_no_kept_step_is_empty():
    s = episode_stats(np.ones((2, 2, 2), bool), np.ones((2, 2, 1), bool), np.zeros(2, bool))
    assert (s.steps, s.kept_steps, s.state.episodes) == (2, 0, 0)
    assert not s.state.always_zero.any() and math.isnan(s.combined.mean_zero)
    assert s.combined.shape == (2, 3) and s.combined.total_switches == 0


def test_current_run():
    s = np.array([0, 0, 1, 1, 1, 0], bool)
    assert current_run(s, 3) == (True, 2, 3)
    assert current_run(s, 0) == (False, 0, 2)
    assert current_run(s, 5) == (False, 5, 1)
    with pytest.raises(IndexError):
        current_run(s, 6)
