"""Pure parts of the replay app: seek parsing, speeds, heatmap/bars/trace rendering, episode
views and the block cache, checked against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from jacwrap.recording import open_recording
from tui.episode import build_episode_view
from tui.playback import SeekError, change_speed, parse_seek, playback_target, tick_plan
from tui.source import RecordingSource
from tui.widgets.bars import bar, format_sparsity, render_bars
from tui.widgets.contacts import NO_DATA, render_contacts
from tui.widgets.fit import NO_FITS, fit_rows, render_fit
from tui.widgets.heatmap import (
    RAMP,
    HeatmapData,
    format_value,
    ramp_index,
    ramp_indices,
    render_heatmap,
    variable_codes,
)
from tui.widgets.stats import render_episode
from tui.widgets.trace import column_means, column_of, render_trace, sparkline

DEMO = Path(__file__).resolve().parent.parent / "recordings" / "demo-CartpoleBalance.jwr"


# ----------------------------------------------------------------------------- playback
@pytest.mark.parametrize(
    ("text", "step"),
    [("37", 37), (" 0 ", 0), ("119", 119), ("0%", 0), ("100%", 119), ("50%", 60), ("25 %", 30)],
)
def test_parse_seek(text, step):
    # 50% of steps 0..119 is 59.5 -> 60 (round half to even); 25% is 29.75 -> 30.
    assert parse_seek(text, 120) == step


@pytest.mark.parametrize("text", ["120", "-3", "abc", "150%", "", "1e3"])
def test_parse_seek_rejects(text):
    with pytest.raises(SeekError):
        parse_seek(text, 120)


def test_tick_plan_and_speed_ladder():
    assert tick_plan(10) == (0.1, 1)
    interval, per_tick = tick_plan(60)  # 30 redraws/s, two steps each
    assert per_tick == 2 and interval == pytest.approx(1 / 30)
    interval, per_tick = tick_plan(240)
    assert per_tick == 8 and per_tick / interval == pytest.approx(240)
    assert playback_target(10, 1.0, 30) == 40  # follows the wall clock
    # steps fall due half-way: a tick slightly early or late still shows step k
    assert playback_target(0, 0.049, 10) == 0 and playback_target(0, 0.051, 10) == 1
    assert playback_target(0, 0.095, 10) == playback_target(0, 0.105, 10) == 1
    assert playback_target(5, -1.0, 10) == 5
    assert change_speed(0, -1) == 0
    assert change_speed(3, 1) == 4


# ----------------------------------------------------------------------------- heatmap
def test_ramp_indices_match_the_scalar_rule():
    values = np.array([1e-20, -1e-8, 3e-7, -1e-3, 0.5, 1.0, -99.0, 1e9])
    assert ramp_indices(values).tolist() == [ramp_index(v) for v in values]


def test_ramp_index_is_log_scale_and_clamped():
    assert ramp_index(1e-8) == 0
    assert ramp_index(1e-20) == 0
    assert ramp_index(1e2) == len(RAMP) - 1
    assert ramp_index(1e9) == len(RAMP) - 1
    # 1e-3 is half-way through [1e-8, 1e2]: 20 colours -> index 10; the sign does not matter
    assert ramp_index(1e-3) == ramp_index(-1e-3) == 10
    assert ramp_index(1.0) == 16  # 8/10 of the way


def test_variable_codes():
    s, a = variable_codes(["qpos:x", "qpos:y", "qvel:x", "qvel:y"], ["act:u", "act:w"])
    assert s == ["p0", "p1", "v0", "v1"] and a == ["a0", "a1"]
    assert variable_codes(["foo", "qvel:x"], [])[0] == ["s0", "v0"]


def _styles_bg(text):
    """bgcolor numbers of the spans of a rendered heatmap, in order."""
    out = []
    for span in text.spans:
        style = span.style
        if hasattr(style, "bgcolor") and style.bgcolor is not None:
            out.append(style.bgcolor.number)
    return out


def test_render_heatmap_marks_zeros_colours_and_cursor():
    js = np.array([[1.0, 0.0], [3e-13, -2e-4]])
    ja = np.array([[0.0], [np.inf]])
    data = HeatmapData(
        jac_state=js,
        jac_action=ja,
        zero_state=np.abs(js) < 1e-12,
        zero_action=np.abs(ja) < 1e-12,
        state_labels=["qpos:a", "qvel:a"],
        action_labels=["act:u"],
    )
    text, offset = render_heatmap(data, cursor=(1, 1), width=60, height=10)
    lines = text.plain.split("\n")
    assert offset == (0, 0)
    assert lines[1].split() == ["p0", "v0", "│a0"]
    assert lines[2].startswith("p0 a") and lines[3].startswith("v0 a")
    # zeros (0,1), (1,0) and (0,2) are dots; the cursor (1,1) is bracketed; (1,2) is inf
    assert lines[2].count("·") == 2 and lines[3].count("·") == 1
    assert "[ ]" in lines[3] and "!" in lines[3]
    body_bg = [c for c in _styles_bg(text) if c != 238]  # 238: zero-cursor background
    legend_bg = list(RAMP[::2])
    assert body_bg[: len(legend_bg)] == legend_bg
    # non-zero cells in row order: 1.0 then the cursor cell -2e-4
    assert body_bg[len(legend_bg) :] == [RAMP[ramp_index(1.0)], RAMP[ramp_index(-2e-4)]]


def test_render_heatmap_scrolls_to_the_cursor():
    n, m = 18, 6
    labels = [f"qpos:q{i}" for i in range(9)] + [f"qvel:q{i}" for i in range(9)]
    data = HeatmapData(
        jac_state=np.ones((n, n)),
        jac_action=np.ones((n, m)),
        zero_state=np.zeros((n, n), bool),
        zero_action=np.zeros((n, m), bool),
        state_labels=labels,
        action_labels=[f"act:u{i}" for i in range(m)],
    )
    text, (r0, c0) = render_heatmap(data, cursor=(17, 23), width=40, height=12)
    lines = text.plain.split("\n")
    assert len(lines) == 12
    assert lines[-1].startswith("v8 q8")  # last row visible
    assert r0 == 18 - (12 - 1 - 2) and c0 > 0  # 2 header rows (codes do not fit in 2 cells)
    assert all(len(line) <= 40 for line in lines)


def test_format_value_is_exact():
    for v in (0.1, -6.81442729e-05, 1 / 3, 5e-324):
        assert float(format_value(v)) == v


# ----------------------------------------------------------------------------- bars, trace
def test_bar_and_sparsity_text():
    assert bar(0.5, 10) == "█████░░░░░"
    assert bar(0.0, 4) == "░░░░" and bar(1.0, 4) == "████"
    assert bar(0.05, 10) == "▌░░░░░░░░░"  # 0.5 cell = 4 eighths
    assert format_sparsity(0.1875) == "0.188" and format_sparsity(math.nan) == "n/a"
    lines = render_bars(np.array([0.1875, 0.0, math.nan]), 30).plain.split("\n")
    assert lines[0].startswith("J_s ") and lines[0].endswith("0.188")
    assert lines[1].endswith("0.000") and "non-finite" in lines[2] and lines[2].endswith("n/a")


def test_column_means_sparkline_and_marker():
    np.testing.assert_allclose(column_means(np.array([1.0, 2, 3, 4]), 2), [1.5, 3.5])
    np.testing.assert_allclose(column_means(np.array([np.nan, 2, 3, 4]), 2), [2, 3.5])
    np.testing.assert_allclose(column_means(np.array([1.0, 2]), 5), [1, 2])  # one column a step
    assert np.isnan(column_means(np.array([np.nan, np.nan]), 1)).all()
    assert sparkline(np.array([0.0, 1.0, np.nan, 0.5]), 0, 1) == "▁█ ▅"  # 0.5*7 = 3.5 -> 4
    assert column_of(0, 1000, 10) == 0 and column_of(999, 1000, 10) == 9
    assert column_of(150, 1000, 10) == 1
    sp = np.tile([0.5, 0.25, 0.4], (8, 1))
    text = render_trace(sp, np.arange(8.0), step=3, width=12).plain.split("\n")
    assert text[0] == "J_s " + "▅" * 8  # 0.5 -> level round(3.5) = 4 of ▁▂▃▄▅▆▇█
    assert text[2] == "rew ▁▂▃▄▅▆▇█"[: len(text[2])]
    assert text[3] == "con (no contact data)"  # a recording without contact columns
    assert text[4].index("▲") == 4 + 3
    # with contacts: pairs in contact per step 0, 1, 2, 2, 0, 0, 1, 2 scaled to the most (2)
    contacts = np.zeros((8, 3), bool)
    for t, k in enumerate([0, 1, 2, 2, 0, 0, 1, 2]):
        contacts[t, :k] = True
    text = render_trace(sp, np.arange(8.0), step=3, width=12, contacts=contacts).plain
    assert text.split("\n")[3] == "con ▁▅██▁▁▅█"  # 1 of 2 -> round(3.5) = 4 -> ▅


def test_contacts_panel_names_the_pairs_or_the_missing_data():
    pairs = ("floor:bfoot", "floor:ffoot", "floor:torso")
    text = render_contacts(pairs, np.array([True, False, True]), 4, 12, 40).plain
    assert text == "floor:bfoot, floor:torso\n2/3 pairs · 4 contacts · 12 rows"
    assert render_contacts(pairs, np.zeros(3, bool), 0, 1, 40).plain.startswith("no contact\n")
    assert render_contacts(None, None, None, None, 40).plain == NO_DATA
    first = render_contacts(pairs, np.ones(3, bool), 9, 9, 12).plain.split("\n")[0]
    assert first == "floor:bfoot…" and len(first) == 12


# ----------------------------------------------------------------------------- fits
def test_fit_rows_average_seeds_per_mode():
    s = [
        SimpleNamespace(
            loss_mode="state",
            residual=False,
            test_mse=0.1,
            induced_sparsity=0.0,
            target_sparsity=0.5,
        ),
        SimpleNamespace(
            loss_mode="state",
            residual=False,
            test_mse=0.3,
            induced_sparsity=0.02,
            target_sparsity=0.5,
        ),
        SimpleNamespace(
            loss_mode="state-jacobian-l1",
            residual=True,
            test_mse=0.2,
            induced_sparsity=0.1,
            target_sparsity=0.5,
        ),
    ]
    rows = fit_rows(s)
    assert [r[:2] for r in rows] == [("state", 2), ("jac-l1+res", 1)]
    assert rows[0][2] == pytest.approx(0.2) and rows[0][3] == pytest.approx(0.01)
    text = render_fit(s).plain
    assert "2.00e-01 0.010/0.500" in text
    assert render_fit([]).plain == NO_FITS


# ----------------------------------------------------------------------------- episode view
def _chunk(mask_state, mask_action):
    t = mask_state.shape[0]
    return SimpleNamespace(
        sparsity=np.zeros((t, 3)),
        reward=np.arange(t, dtype=float),
        finite=np.ones(t, bool),
        zero_state=mask_state,
        zero_action=mask_action,
    )


def test_episode_view_runs_match_hand_count():
    # element (0,1) of J_s: zero at t=0,1,2, non-zero at 3,4, zero at 5
    zs = np.zeros((6, 2, 2), bool)
    zs[[0, 1, 2, 5], 0, 1] = True
    zs[:, 1, 0] = True  # always zero
    za = np.zeros((6, 2, 1), bool)
    info = SimpleNamespace(index=0, start=0, length=6, ret=15.0, complete=True)
    view = build_episode_view(info, [_chunk(zs[:4], za[:4]), _chunk(zs[4:], za[4:])])
    assert view.length == 6
    assert view.element_run(0, 1, 4) == (False, 3, 2)
    assert view.element_run(0, 1, 1) == (True, 0, 3)
    assert view.element_run(1, 2, 0) == (False, 0, 6)  # J_a column
    mean_zero, mean_nonzero, switches = view.element_stats(0, 1)
    assert (mean_zero, mean_nonzero, switches) == (2.0, 2.0, 2)
    lines = render_episode(view).plain.split("\n")
    assert lines[1].split() == ["J_s", "2.0", "2.0", "1/4", "25%"]
    assert lines[2].split() == ["J_a", "–", "–", "0/2", "0%"]


def test_source_blocks_and_episode_from_the_demo_recording():
    src = RecordingSource.open(DEMO)
    src.block_steps, src.max_blocks = 50, 2
    with open_recording(DEMO) as rec:
        expected = rec.step(160)
        ep1 = rec.episode(1)
    assert src.cached_step(160) is None
    src.load_block(3)
    steps, k = src.cached_step(160)
    assert k == 10
    np.testing.assert_array_equal(steps.jac_state[k], expected.jac_state[0])
    src.load_block(0)
    src.load_block(1)  # evicts block 3 (least recently used)
    assert not src.is_cached(3) and src.is_cached(0) and src.is_cached(1)
    view = src.load_episode(1)
    assert (view.start, view.length) == (120, 120)
    np.testing.assert_array_equal(view.sparsity, ep1.sparsity)
    np.testing.assert_array_equal(view.zero_action, ep1.zero_action)
    # always-zero elements of J_s, counted by hand from the masks
    assert int(view.stats_state.always_zero.sum()) == int(ep1.zero_state.all(axis=0).sum())
    src.close()
