import numpy as np
import pytest

from jacwrap.runs import current_run, element_runs, run_stats


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
    st = run_stats(mask)
    assert st.always_zero.tolist() == [[True, False], [False, False]]
    assert st.switches.tolist() == [[0, 3], [0, 9]]
    assert sorted(st.zero_runs.tolist()) == [1, 1, 1, 1, 1, 3, 4]
    assert sorted(st.nonzero_runs.tolist()) == [1, 1, 1, 1, 1, 1, 2]
    assert st.mean_zero == pytest.approx(12 / 7)
    assert st.mean_nonzero == pytest.approx(8 / 7)
    assert st.mean_zero_per_element[0, 1] == pytest.approx(3.5)
    assert np.isnan(st.mean_zero_per_element[0, 0])
    assert st.total_switches == 12


def test_run_stats_drops_nonfinite_steps():
    mask = np.array([[1], [0], [1], [1]], bool)
    st = run_stats(mask, finite=np.array([True, False, True, True]))
    assert st.switches.tolist() == [0] and st.always_zero.tolist() == [True]
    assert st.zero_runs.size == 0


def test_current_run():
    s = np.array([0, 0, 1, 1, 1, 0], bool)
    assert current_run(s, 3) == (True, 2, 3)
    assert current_run(s, 0) == (False, 0, 2)
    assert current_run(s, 5) == (False, 5, 1)
    with pytest.raises(IndexError):
        current_run(s, 6)
