"""Streaming reductions of jacwrap.analysis.accumulators against hand-computed answers.

The planted data set is described in tests/analysis_data.py; every expected number below
was worked out by hand from that description, not from the code.
"""

from __future__ import annotations

import numpy as np
import pytest
from analysis_data import chunks, make_steps, planted

from jacwrap.analysis.accumulators import (
    RunLengths,
    StreamStats,
    TsneSample,
    ZeroStats,
    sparsity_bin,
    stream_stats,
)


@pytest.fixture(params=[1, 3, 7, 21], ids=lambda s: f"chunk{s}")
def stats(request) -> StreamStats:
    return stream_stats(chunks(planted(), request.param), 2, 1, tsne_cap=100, tsne_episodes=10)


def test_q1_global_zeros_and_q2_zero_percentages(stats):
    z = stats.zeros
    assert stats.steps == 21
    assert z.samples == 20 and z.nonfinite == 1
    assert z.zero_state.tolist() == [[20, 6], [0, 15]]
    assert z.zero_action.tolist() == [[20], [5]]
    assert z.global_zero_state.tolist() == [[True, False], [False, False]]
    assert z.global_zero_action.tolist() == [[True], [False]]
    np.testing.assert_array_equal(z.zero_pct_state, [[100.0, 30.0], [0.0, 75.0]])
    np.testing.assert_array_equal(z.zero_pct_action, [[100.0], [25.0]])


def test_q2_sparsity_histogram_densities_and_means(stats):
    z = stats.zeros
    # J_s sparsity: 0.25 in 4 samples, 0.5 in 11, 0.75 in 5; J_a: 0.5 in 15, 1.0 in 5.
    expect_state = np.zeros(10)
    expect_state[[2, 5, 7]] = [4, 11, 5]
    expect_action = np.zeros(10)
    expect_action[[5, 9]] = [15, 5]
    np.testing.assert_array_equal(z.hist[0], expect_state)
    np.testing.assert_array_equal(z.hist[1], expect_action)
    np.testing.assert_allclose(z.hist_density[0], expect_state / (20 * 0.1))
    np.testing.assert_allclose(z.hist_density.sum(axis=1) * 0.1, [1, 1, 1])
    np.testing.assert_allclose(z.mean_sparsity, [10.25 / 20, 0.625, 66 / 120])


def test_q3_run_lengths_across_chunk_boundaries(stats):
    rs, ra = stats.runs.state, stats.runs.action
    assert rs.episodes == 2
    # Pooled J_s zero runs: 3, 2, 1 (element (0,1)) and five 1s (element (1,1), episode 0).
    assert rs.zero_hist.tolist() == [0, 6, 1, 1]
    assert rs.nonzero_hist.tolist() == [0, 5, 1, 0, 0, 1, 0, 1]
    assert rs.mean_zero == pytest.approx(11 / 8)
    assert rs.mean_nonzero == pytest.approx(19 / 8)
    assert rs.zero_runs.tolist() == [[0, 3], [0, 5]]
    assert rs.nonzero_runs.tolist() == [[0, 3], [0, 5]]
    assert rs.switches.tolist() == [[0, 4], [0, 9]]
    assert rs.episodes_always_zero.tolist() == [[2, 0], [0, 1]]
    mz, mnz = rs.mean_zero_per_element, rs.mean_nonzero_per_element
    assert mz[0, 1] == pytest.approx(2.0) and mnz[0, 1] == pytest.approx(14 / 3)
    assert mz[1, 1] == 1.0 and mnz[1, 1] == 1.0
    assert np.isnan(mz[0, 0]) and np.isnan(mz[1, 0]) and np.isnan(mnz[1, 0])
    assert ra.zero_hist.tolist() == [0, 0, 0, 0, 0, 1]
    assert ra.nonzero_hist.tolist() == [0, 0, 0, 0, 0, 1]
    assert ra.mean_zero == 5.0 and ra.mean_nonzero == 5.0


def test_q3_rollout_is_first_episode(stats):
    ro = stats.runs.rollout
    assert ro.episode == 0
    assert ro.t.tolist() == list(range(10))
    np.testing.assert_allclose(
        ro.sparsity[:, 0], [0.5, 0.25, 0.75, 0.5, 0.75, 0.25, 0.5, 0.25, 0.5, 0.25]
    )
    assert ro.finite.all()


def test_nonfinite_steps_counted_never_as_zeros():
    k = 4
    zs = np.ones((k, 2, 2), bool)
    za = np.ones((k, 2, 1), bool)
    st = stream_stats(
        [make_steps(zs, za, np.zeros(k), np.arange(k), finite=[True, False, False, True])], 2, 1
    )
    assert st.zeros.samples == 2 and st.zeros.nonfinite == 2
    assert st.zeros.zero_state.tolist() == [[2, 2], [2, 2]]
    assert st.zeros.hist[0, 9] == 2 and st.zeros.hist.sum() == 6
    assert len(st.tsne) == 2 and sorted(st.tsne.t.tolist()) == [0, 3]


def test_all_nonfinite_gives_nan_percentages_not_zeros():
    z = ZeroStats(2, 1)
    z.update(make_steps(np.ones((3, 2, 2), bool), np.ones((3, 2, 1), bool), np.zeros(3),
                        np.arange(3), finite=[False] * 3))  # fmt: skip
    assert z.samples == 0 and z.nonfinite == 3
    assert not z.global_zero_state.any()
    assert np.isnan(z.zero_pct_state).all() and np.isnan(z.mean_sparsity).all()


def test_sparsity_bins_exact_at_edges():
    # k/N ratios that sit on bin edges go to the bin that starts there; 1.0 to the last.
    vals = np.array([0.0, 3 / 10, 0.3, 6 / 20, 7 / 10, 0.7, 29 / 100, 99 / 100, 1.0, 1 / 3])
    assert sparsity_bin(vals).tolist() == [0, 3, 3, 3, 7, 7, 2, 9, 9, 3]


def test_merge_equals_single_stream():
    data = planted()
    first, second = chunks(data, 12)
    whole = stream_stats([data], 2, 1)
    a = stream_stats([first], 2, 1)
    b = stream_stats([second], 2, 1)
    # The episode that spans the split is closed at the end of `first`: merging two files
    # never joins episodes, so compare only the quantities that do not depend on runs.
    a.merge(b)
    assert a.steps == whole.steps
    np.testing.assert_array_equal(a.zeros.zero_state, whole.zeros.zero_state)
    np.testing.assert_array_equal(a.zeros.hist, whole.zeros.hist)
    assert a.zeros.nonfinite == whole.zeros.nonfinite
    r1, r2 = RunLengths((2, 2)), RunLengths((2, 2))
    zs = data.zero_state[data.finite]
    r1.add_episode(zs[:10])
    r2.add_episode(zs[10:])
    r1.merge(r2)
    np.testing.assert_array_equal(r1.zero_hist, whole.runs.state.zero_hist)
    np.testing.assert_array_equal(r1.zero_steps, whole.runs.state.zero_steps)


def test_tsne_sample_caps_and_limits_episodes():
    k = 60
    zs = np.zeros((k, 2, 2), bool)
    za = np.zeros((k, 2, 1), bool)
    ep = np.repeat(np.arange(6), 10)
    data = make_steps(zs, za, ep, np.tile(np.arange(10), 6))
    full = TsneSample(cap=1000, max_episodes=3)
    for c in chunks(data, 7):
        full.update(c)
    assert full.eligible == 30 and len(full) == 30
    assert sorted(set(full.episode.tolist())) == [0, 1, 2]
    order = np.lexsort((full.t, full.episode))
    np.testing.assert_array_equal(
        full.x[order], np.concatenate([data.state, data.action, data.next_state], 1)[:30]
    )
    capped = TsneSample(cap=8, max_episodes=3, seed=1)
    for c in chunks(data, 7):
        capped.update(c)
    assert len(capped) == 8 and capped.eligible == 30
    assert set(zip(capped.episode.tolist(), capped.t.tolist(), strict=True)) <= {
        (e, t) for e in range(3) for t in range(10)
    }
    other = TsneSample(cap=8, max_episodes=2, seed=2, source=1)
    other.update(data)
    capped.max_episodes = 5
    capped.merge(other)
    assert len(capped) == 8 and capped.eligible == 50 and len(capped.episodes) == 5


def test_tsne_sample_is_uniform_over_eligible_steps():
    k = 50
    data = make_steps(
        np.zeros((k, 2, 2), bool), np.zeros((k, 2, 1), bool), np.zeros(k), np.arange(k)
    )
    hits = np.zeros(k)
    for seed in range(400):
        s = TsneSample(cap=10, max_episodes=1, seed=seed)
        for c in chunks(data, 9):
            s.update(c)
        hits[s.t] += 1
    # Each step is kept with probability 10/50: 80 of 400 expected, binomial sd 8.
    assert np.abs(hits - 80).max() < 5 * 8
