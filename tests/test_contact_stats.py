"""Contact statistics (jacwrap.analysis.contact_stats) on planted synthetic data.

Every expected value is written down by hand from the plant (or enumerated over all
placements, for the chance model), never recomputed with the module's own helpers.
"""

from __future__ import annotations

import doctest
import io
import itertools
from math import comb
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from jacwrap.analysis import contact_stats as cs
from jacwrap.errors import JacwrapError, NoContactDataError, require_contacts

V1_RECORDING = Path(__file__).parent / "data" / "v1" / "cartpole-f32.jwr"
PAIRS = ("floor:bfoot", "floor:ffoot", "floor:torso")


def pi(n: int, w: int, b: int) -> float:
    """Chance that b of n positions drawn without replacement hit one of w given ones."""
    return 1.0 - comb(n - w, b) / comb(n, b)


def toggled(length: int, width: int, changes: dict[int, list[int]]) -> np.ndarray:
    """(length, width) bool, all False at t = 0, column c flipped at each t in changes[c]."""
    out = np.zeros((length, width), bool)
    for col, ts in changes.items():
        for t in ts:
            out[t:, col] ^= True
    return out


def episode_arrays(length: int, index: int) -> dict[str, np.ndarray]:
    return {
        "episode": np.full(length, index, np.int64),
        "t": np.arange(length, dtype=np.int64),
        "finite": np.ones(length, bool),
    }


def masks_with_switches(length: int, switches: dict[tuple[int, int], list[int]]):
    """zero_state (length, 2, 2) and zero_action (length, 2, 1): combined element (i, j)
    flips at the given steps."""
    combined = np.zeros((length, 2, 3), bool)
    for (i, j), ts in switches.items():
        for t in ts:
            combined[t:, i, j] ^= True
    return combined[:, :, :2], combined[:, :, 2:]


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# -- the planted rollout -----------------------------------------------------------------------
def planted_rollout() -> tuple[dict, dict]:
    """Episode 0 (200 steps): contact changes at 20, 60, 100, 130, 150; zero-mask changes at
    21, 61, 101 (one step after a contact change) and 180 (alone). Episode 1 (100 steps):
    starts with a different mask and contact set than episode 0 ends with (must not
    count); a zero-mask and a contact change together at 50, a contact change at 80."""
    c0 = toggled(200, 3, {0: [20, 100, 150], 1: [60, 130]})
    zs0, za0 = masks_with_switches(200, {(0, 1): [21, 101], (1, 2): [61, 180]})
    c1 = toggled(100, 3, {2: [50, 80]})
    c1[:, 1] = ~c0[-1, 1]
    zs1, za1 = masks_with_switches(100, {(1, 0): [50]})
    za1[:, 0, 0] = ~za0[-1, 0, 0]
    e0 = {"zero_state": zs0, "zero_action": za0, "contacts": c0, **episode_arrays(200, 0)}
    e1 = {"zero_state": zs1, "zero_action": za1, "contacts": c1, **episode_arrays(100, 1)}
    return e0, e1


def test_planted_rollout_gives_the_planted_shares():
    e0, _ = planted_rollout()
    al = cs.switch_alignment(**e0)
    assert al.opportunities == 199
    assert (al.mask_changes.events, al.mask_changes.coinciding) == (4, 3)
    assert (al.contact_changes.events, al.contact_changes.coinciding) == (5, 3)
    assert al.mask_changes.share == 3 / 4
    assert al.contact_changes.share == 3 / 5
    # every event is interior (window 3); 199 opportunities; 5 contact, 4 mask changes
    assert al.mask_changes.chance == pytest.approx(pi(199, 3, 5), rel=1e-12)
    assert al.contact_changes.chance == pytest.approx(pi(199, 3, 4), rel=1e-12)
    assert al.mask_changes.ratio == pytest.approx(0.75 / pi(199, 3, 5), rel=1e-12)


def test_episode_boundaries_do_not_count_and_results_add_up():
    e0, e1 = planted_rollout()
    both = cs.switch_alignment(**concat([e0, e1]))
    assert both.opportunities == 199 + 99
    # the mask and the contacts differ across the boundary: 6 and 8 events if it counted
    assert (both.mask_changes.events, both.mask_changes.coinciding) == (5, 4)
    assert (both.contact_changes.events, both.contact_changes.coinciding) == (7, 4)
    assert both.mask_changes.share == 4 / 5
    assert both.contact_changes.share == 4 / 7
    chance_a = (4 * pi(199, 3, 5) + pi(99, 3, 2)) / 5
    chance_b = (5 * pi(199, 3, 4) + 2 * pi(99, 3, 1)) / 7
    assert both.mask_changes.chance == pytest.approx(chance_a, rel=1e-12)
    assert both.contact_changes.chance == pytest.approx(chance_b, rel=1e-12)
    # the episode index alone separates them, even where t runs on across the boundary
    shifted = cs.switch_alignment(**concat([e0, {**e1, "t": e1["t"] + 200}]))
    assert (shifted.opportunities, shifted.mask_changes.events) == (298, 5)
    added = cs.switch_alignment(**e0) + cs.switch_alignment(**e1)
    assert added.mask_changes.events == both.mask_changes.events
    assert added.contact_changes.coinciding == both.contact_changes.coinciding
    assert added.mask_changes.expected == pytest.approx(both.mask_changes.expected, rel=1e-12)


def test_chance_by_hand_on_a_small_case():
    assert cs.hit_probability(10, 3, 2) == pytest.approx(8 / 15)  # 1 - C(7,2)/C(10,2)
    assert cs.hit_probability(10, 2, 2) == pytest.approx(17 / 45)  # 1 - C(8,2)/C(10,2)
    assert cs.hit_probability(10, 1, 0) == 0.0
    assert cs.hit_probability(3, 3, 1) == 1.0
    # 11 steps, 10 opportunities (t = 1..10): a mask change at t = 1 (window 2) and t = 5
    # (window 3), contact changes at t = 8 and 9
    zs, za = masks_with_switches(11, {(0, 0): [1, 5]})
    contacts = toggled(11, 3, {0: [8], 1: [9]})
    al = cs.switch_alignment(zs, za, contacts, **episode_arrays(11, 0))
    assert al.mask_changes.share == 0.0
    assert al.mask_changes.chance == pytest.approx((17 / 45 + 8 / 15) / 2)


def test_chance_equals_the_mean_over_all_placements_with_a_gap():
    """Step 5 of 10 is non-finite: opportunities t = 1..4 and 7..9. The chance of
    coincidence.chance must equal the share (a) averaged over every placement of as many
    contact changes on those opportunities, checked by enumeration from the definition."""
    arrays = episode_arrays(10, 3)
    arrays["finite"][5] = False
    opp_t = [1, 2, 3, 4, 7, 8, 9]
    a_t = [1, 4, 7]  # windows 2, 2, 2
    for b in (1, 2, 3):
        shares = [
            np.mean([any(abs(x - y) <= 1 for y in placed) for x in a_t])
            for placed in itertools.combinations(opp_t, b)
        ]
        zs, za = masks_with_switches(10, {(1, 1): a_t})
        contacts = toggled(10, 3, {2: opp_t[-b:]})
        al = cs.switch_alignment(zs, za, contacts, **arrays)
        assert al.opportunities == 7
        assert al.mask_changes.events == 3
        assert al.mask_changes.chance == pytest.approx(np.mean(shares), rel=1e-12)


def test_changes_into_a_nonfinite_step_are_not_counted():
    arrays = episode_arrays(20, 0)
    arrays["finite"][10] = False
    zs, za = masks_with_switches(20, {(0, 0): [10, 11], (0, 1): [15]})
    contacts = toggled(20, 3, {0: [11], 1: [16]})
    al = cs.switch_alignment(zs, za, contacts, **arrays)
    assert al.opportunities == 17
    assert (al.mask_changes.events, al.mask_changes.coinciding) == (1, 1)  # only t = 15
    assert (al.contact_changes.events, al.contact_changes.coinciding) == (1, 1)  # only 16


def brute_force(d: dict) -> dict:
    """The statistics of the module docstring, step by step from its definitions."""
    combined = np.concatenate([d["zero_state"], d["zero_action"]], axis=2)
    ep, t, fin, con = d["episode"], d["t"], d["finite"], d["contacts"]
    opp = [
        k > 0 and ep[k] == ep[k - 1] and t[k] == t[k - 1] + 1 and fin[k] and fin[k - 1]
        for k in range(len(t))
    ]
    where = [(int(ep[k]), int(t[k])) for k in range(len(t)) if opp[k]]
    row = {w: k for k, w in zip(np.flatnonzero(opp), where, strict=True)}

    def near(x, ys):
        return any(y[0] == x[0] and abs(y[1] - x[1]) <= 1 for y in ys)

    def chance(x, others):
        n = sum(w[0] == x[0] for w in where)
        w = sum(near(x, [y]) for y in where)
        return pi(n, w, sum(y[0] == x[0] for y in others))

    def changed(a, x):
        return bool((a[row[x]] != a[row[x] - 1]).any())

    mask_ch = [x for x in where if changed(combined, x)]
    con_ch = [x for x in where if changed(con, x)]
    out = {
        "a": (len(mask_ch), sum(near(x, con_ch) for x in mask_ch)),
        "b": (len(con_ch), sum(near(y, mask_ch) for y in con_ch)),
        "expected_a": sum(chance(x, con_ch) for x in mask_ch),
        "expected_b": sum(chance(y, mask_ch) for y in con_ch),
    }
    shape = combined.shape[1:] + con.shape[1:]
    out["coinciding"], out["expected"] = np.zeros(shape, int), np.zeros(shape)
    for i, j, p in np.ndindex(shape):
        sw = [x for x in where if changed(combined[:, i, j], x)]
        pc = [x for x in where if changed(con[:, p], x)]
        out["coinciding"][i, j, p] = sum(near(x, pc) for x in sw)
        out["expected"][i, j, p] = sum(chance(x, pc) for x in sw)
    return out


def random_episodes(seed: int) -> dict:
    """Three episodes (30, 1 and 45 steps), rare mask flips and contact changes, and a few
    non-finite steps."""
    rng = np.random.default_rng(seed)
    lengths = (30, 1, 45)
    k = sum(lengths)
    combined = np.logical_xor.accumulate(rng.random((k, 2, 3)) < 0.08, axis=0)
    d = {
        "zero_state": combined[:, :, :2],
        "zero_action": combined[:, :, 2:],
        "contacts": np.logical_xor.accumulate(rng.random((k, 3)) < 0.1, axis=0),
        "episode": np.repeat(np.array([4, 5, 6]), lengths),
        "t": np.concatenate([np.arange(n) for n in lengths]),
        "finite": rng.random(k) > 0.06,
    }
    return d


@pytest.mark.parametrize("seed", [0, 1])
def test_every_count_matches_the_definitions_step_by_step(seed):
    d = random_episodes(seed)
    want = brute_force(d)
    al = cs.switch_alignment(**d)
    assert (al.mask_changes.events, al.mask_changes.coinciding) == want["a"]
    assert (al.contact_changes.events, al.contact_changes.coinciding) == want["b"]
    assert al.mask_changes.expected == pytest.approx(want["expected_a"], rel=1e-12)
    assert al.contact_changes.expected == pytest.approx(want["expected_b"], rel=1e-12)
    counts = cs.element_pair_counts(**d)
    assert (counts.coinciding == want["coinciding"]).all()
    np.testing.assert_allclose(counts.expected, want["expected"], rtol=1e-12, atol=1e-12)
    assert want["a"][0] > 5 and want["b"][0] > 5 and want["coinciding"].sum() > 5


# -- elements ----------------------------------------------------------------------------------
def test_elements_are_explained_by_the_planted_pair():
    # pair 1 changes at 10, 30, 50, 70; pair 0 at 90, 100, 115; pair 2 at 40, 115
    contacts = toggled(120, 3, {0: [90, 100, 115], 1: [10, 30, 50, 70], 2: [40, 115]})
    switches = {
        (0, 1): [11, 31, 51, 85],  # J_s[0, 1]: 3 of 4 one step after pair 1
        (1, 2): [40, 90],  # J_a[1, 0]: pair 2 (40) and pair 0 (90) one each
        (1, 0): [115],  # J_s[1, 0]: pairs 0 and 2 both; pair 2 changes less often
        (0, 2): [5, 20, 60],  # J_a[0, 0]: no pair change near
    }
    zs, za = masks_with_switches(120, switches)
    counts = cs.element_pair_counts(zs, za, contacts, **episode_arrays(120, 0))
    assert counts.switches.tolist() == [[0, 4, 3], [1, 0, 2]]
    assert counts.coinciding[0, 1].tolist() == [0, 3, 0]
    assert counts.coinciding[1, 2].tolist() == [1, 0, 1]
    got = {(e.matrix, e.row, e.col): e for e in cs.element_explanations(counts, PAIRS)}
    assert list(got) == [("J_s", 0, 1), ("J_s", 1, 0), ("J_a", 0, 0), ("J_a", 1, 0)]
    e = got["J_s", 0, 1]
    assert (e.pair, e.pair_index, e.share, e.switches) == ("floor:ffoot", 1, 0.75, 4)
    assert e.chance == pytest.approx(pi(119, 3, 4), rel=1e-12)
    # equal shares: the pair whose changes are rarer (smaller chance) explains
    assert (got["J_a", 1, 0].pair_index, got["J_a", 1, 0].share) == (2, 0.5)
    assert (got["J_s", 1, 0].pair_index, got["J_s", 1, 0].share) == (2, 1.0)
    none = got["J_a", 0, 0]
    assert (none.pair, none.pair_index, none.share, none.switches) == (None, -1, 0.0, 3)


def test_an_exact_tie_goes_to_the_first_pair():
    contacts = toggled(30, 3, {0: [10, 20], 2: [10, 20]})
    zs, za = masks_with_switches(30, {(1, 1): [11, 21]})
    counts = cs.element_pair_counts(zs, za, contacts, **episode_arrays(30, 0))
    (e,) = cs.element_explanations(counts, PAIRS)
    assert (e.matrix, e.row, e.col, e.pair, e.share) == ("J_s", 1, 1, "floor:bfoot", 1.0)


# -- contact sets and the histogram --------------------------------------------------------------
def contact_set_example():
    """{} 4 steps, {bfoot} 3, {bfoot, ffoot} 2, {ffoot} 2 finite + 1 non-finite."""
    pairs = ("floor:bfoot", "floor:ffoot")
    rows = [(0, 0)] * 4 + [(1, 0)] * 3 + [(1, 1)] * 2 + [(0, 1)] * 3
    state = [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.8, 0.9, 0.7, 0.25, 0.35, np.nan]
    action = [0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 1.0, 0.0, 0.5, 0.95, 0.15, np.nan]
    finite = np.ones(12, bool)
    finite[-1] = False
    sparsity = np.stack([state, action, np.zeros(12)], axis=1)
    return pairs, np.array(rows, bool), sparsity, finite


def assert_same_table(got, want):
    assert [(r.label, r.members, r.sets, r.count) for r in got] == [
        (r.label, r.members, r.sets, r.count) for r in want
    ]
    for g, w in zip(got, want, strict=True):
        assert (g.share, g.mean_state, g.mean_action) == pytest.approx(
            (w.share, w.mean_state, w.mean_action), rel=1e-12
        )


def test_contact_set_table_hand_built():
    pairs, contacts, sparsity, finite = contact_set_example()
    sums = cs.contact_set_sums(contacts, sparsity, finite)
    rows = cs.contact_set_table(sums, pairs, top=3)
    assert [r.label for r in rows] == ["{}", "{floor:bfoot}", "{floor:bfoot, floor:ffoot}", "other"]
    assert [r.count for r in rows] == [4, 3, 2, 2]  # {ffoot} ties {bfoot, ffoot}, sorts after
    assert [r.sets for r in rows] == [1, 1, 1, 1]
    assert rows[1].members == ("floor:bfoot",) and rows[0].members == () and rows[3].members is None
    assert [r.share for r in rows] == pytest.approx([4 / 11, 3 / 11, 2 / 11, 2 / 11])
    assert [r.mean_state for r in rows] == pytest.approx([0.25, 0.6, 0.8, 0.3])
    assert [r.mean_action for r in rows] == pytest.approx([0.25, 1.0, 0.25, 0.55])
    short = cs.contact_set_table(sums, pairs, top=1)
    assert [(r.label, r.count, r.sets) for r in short] == [("{}", 4, 1), ("other", 7, 3)]
    assert short[1].mean_state == pytest.approx((0.5 + 0.5 + 0.8 + 0.9 + 0.7 + 0.25 + 0.35) / 7)
    assert len(cs.contact_set_table(sums, pairs, top=4)) == 4  # no "other" without a rest
    halves = cs.contact_set_sums(contacts[:5], sparsity[:5], finite[:5]) + cs.contact_set_sums(
        contacts[5:], sparsity[5:], finite[5:]
    )
    assert_same_table(cs.contact_set_table(halves, pairs), cs.contact_set_table(sums, pairs))


def test_sparsity_histogram_split_by_pairs_in_contact():
    _, contacts, sparsity, finite = contact_set_example()
    h = cs.sparsity_by_contacts(contacts, sparsity, finite)
    assert h.state.shape == (3, 10)
    assert h.steps.tolist() == [4, 5, 2]  # 0 pairs: {}; 1 pair: {bfoot}, {ffoot}; 2 pairs
    assert np.flatnonzero(h.state[0]).tolist() == [1, 2, 3, 4]
    assert h.state[1].tolist() == [0, 0, 1, 1, 0, 2, 0, 0, 1, 0]  # .25 .35 .5 .5 .8
    assert h.state[2].tolist() == [0] * 7 + [1, 0, 1]  # .7 .9
    assert h.action[1].tolist() == [0, 1, 0, 0, 0, 0, 0, 0, 0, 4]  # 0.15, 0.95 and 1.0 x3
    assert (h + h).action[1, 9] == 8


def test_no_candidate_pairs():
    """An env without contact pairs: one empty set, no contact changes (NaN shares)."""
    contacts = np.zeros((10, 0), bool)
    sparsity = np.full((10, 3), 0.5)
    arrays = episode_arrays(10, 0)
    rows = cs.contact_set_table(cs.contact_set_sums(contacts, sparsity, arrays["finite"]), ())
    assert [(r.label, r.count, r.mean_state) for r in rows] == [("{}", 10, 0.5)]
    zs, za = masks_with_switches(10, {(0, 0): [4]})
    al = cs.switch_alignment(zs, za, contacts, **arrays)
    assert (al.mask_changes.share, al.mask_changes.chance) == (0.0, 0.0)
    assert np.isnan(al.contact_changes.share) and np.isnan(al.mask_changes.ratio)
    counts = cs.element_pair_counts(zs, za, contacts, **arrays)
    assert [(e.pair, e.switches) for e in cs.element_explanations(counts, ())] == [(None, 1)]


def test_episode_contact_stats_is_the_sum_of_its_parts():
    e0, e1 = planted_rollout()
    sparsity = np.random.default_rng(0).uniform(size=(300, 3))

    def steps(d, sp):
        return SimpleNamespace(**d, sparsity=sp)

    whole = cs.episode_contact_stats(steps(concat([e0, e1]), sparsity))
    parts = cs.episode_contact_stats(steps(e0, sparsity[:200])) + cs.episode_contact_stats(
        steps(e1, sparsity[200:])
    )
    assert whole.alignment.mask_changes.share == 4 / 5
    assert (whole.histogram.state == parts.histogram.state).all()
    assert (whole.elements.coinciding == parts.elements.coinciding).all()
    np.testing.assert_allclose(whole.elements.expected, parts.elements.expected, rtol=1e-12)
    assert_same_table(
        cs.contact_set_table(whole.sets, PAIRS), cs.contact_set_table(parts.sets, PAIRS)
    )


# -- phases and their shading ------------------------------------------------------------------
def test_contact_phases_tiny_example():
    contacts = np.array([[1, 0], [1, 0], [0, 0], [1, 1], [1, 1], [1, 1], [1, 0]], bool)
    phases = cs.contact_phases(contacts, t=np.arange(3, 10))
    assert [(p.t0, p.t1, p.members) for p in phases] == [
        (3, 5, (0,)),
        (5, 6, ()),
        (6, 9, (0, 1)),
        (9, 10, (0,)),
    ]
    assert cs.contact_phases(np.zeros((0, 2), bool)) == ()
    with pytest.raises(ValueError, match="t has shape"):
        cs.contact_phases(contacts, t=np.arange(3))


def test_shading_draws_one_patch_per_phase():
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_hex
    from matplotlib.figure import Figure

    contacts = np.array([[1, 0], [1, 0], [0, 0], [1, 1], [1, 1], [1, 1], [1, 0]], bool)
    phases = cs.contact_phases(contacts)
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(np.arange(7), np.linspace(0, 1, 7), label="J_s")
    old = ax.legend()
    patches = cs.shade_contact_phases(ax, phases, ("floor:bfoot", "floor:ffoot"), legend_top=2)
    assert len(patches) == len(phases) == 4 and len(ax.patches) == 4
    colours = [to_hex(p.get_facecolor()) for p in patches]
    assert colours[0] == colours[3] != colours[1] != colours[2] != colours[0]
    assert colours[0] == cs.PHASE_COLOURS[0]  # {bfoot}: 3 steps, {bfoot, ffoot}: 3, first seen
    xs = patches[2].get_patch_transform().transform(patches[2].get_path().vertices)[:, 0]
    assert (xs.min(), xs.max()) == (2.5, 5.5)  # steps 3..5, each drawn at its t
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["{floor:bfoot}", "{floor:bfoot, floor:ffoot}"]
    assert old in ax.get_children()  # the lines' legend is kept
    fig.savefig(io.BytesIO(), format="png")


# -- no contact data ---------------------------------------------------------------------------
def test_a_version_1_recording_has_no_contact_data():
    from jacwrap.recording import open_recording

    rec = open_recording(V1_RECORDING)
    for what in (rec.header, rec.read(0, 3), rec):
        with pytest.raises(NoContactDataError) as info:
            require_contacts(what, V1_RECORDING)
        assert str(info.value) == (
            "no contact data in this recording (recorded before format version 2, or "
            f"without contacts): {V1_RECORDING}"
        )
        assert isinstance(info.value, JacwrapError) and info.value.path == V1_RECORDING
    require_contacts(SimpleNamespace(contact_pairs=("floor:bfoot",)), "x.jwr")
    require_contacts(SimpleNamespace(contacts=np.zeros((3, 1), bool)), "x.jwr")
    with pytest.raises(NoContactDataError, match="x.jwr"):
        require_contacts(SimpleNamespace(contact_pairs=None), "x.jwr")


def test_module_docstring_example_runs():
    result = doctest.testmod(cs, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
