"""The replay app driven by its keys (Textual Pilot) on the committed demo recording; what it
shows is checked against the recording as the library reads it."""

from __future__ import annotations

import asyncio
import functools
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jacwrap.fit.summary import HISTORY_KEYS, FitSummary, fits_dir, write_summary
from jacwrap.recording import RecordingError, RecordingWriter, open_recording
from tui.app import ReplayApp
from tui.screens.episodes import EpisodePicker
from tui.screens.error import ErrorScreen
from tui.screens.help import HelpScreen, key_rows
from tui.widgets.bars import format_sparsity
from tui.widgets.heatmap import format_value

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "recordings" / "demo-CartpoleBalance.jwr"


def run_async(fn):
    """Run an async test in a fresh event loop (the project has no asyncio pytest plugin)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


async def settle(pilot, app: ReplayApp, timeout: float = 20.0) -> None:
    """Wait until the app shows its current step fully, or an error screen."""
    loop_time = 0.0
    while loop_time < timeout:
        await app.workers.wait_for_complete()
        await pilot.pause()
        if (app.ready and not app.workers) or isinstance(app.screen, ErrorScreen):
            return
        await pilot.pause(0.02)
        loop_time += 0.02
    raise AssertionError(f"app not ready after {timeout} s: {app.shown('status')}")


def text_of(app: ReplayApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def status(app: ReplayApp) -> str:
    return app.shown("status")


@pytest.fixture(scope="module")
def rec():
    with open_recording(DEMO) as r:
        yield r


@run_async
async def test_opens_on_the_first_step_and_shows_its_values(rec):
    app = ReplayApp(DEMO)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert "CartpoleBalance · ep 0/1 · step 0/119 · PAUSE 10/s" in status(app)
        s0 = rec.step(0)
        bars = app.shown("bars").split("\n")
        for line, value in zip(bars, s0.sparsity[0], strict=True):
            assert line.endswith(format_sparsity(value))
        selected = app.shown("selected")
        assert selected.startswith("J_s[p0,p0]")
        assert f"= {format_value(s0.jac_state[0, 0, 0])}" in selected


@run_async
async def test_step_keys_and_jumps(rec):
    app = ReplayApp(DEMO)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("right", "right", "right")
        await settle(pilot, app)
        assert "step 3/119" in status(app)
        await pilot.press("left")
        await settle(pilot, app)
        assert "step 2/119" in status(app)
        assert (
            app.shown("bars").split("\n")[2].endswith(format_sparsity(rec.step(2).sparsity[0, 2]))
        )
        await pilot.press("end")
        await settle(pilot, app)
        assert "step 119/119" in status(app)
        await pilot.press("right")  # stays on the last step
        await settle(pilot, app)
        assert "step 119/119" in status(app)
        await pilot.press("home")
        await settle(pilot, app)
        assert "step 0/119" in status(app)


@run_async
async def test_heatmap_cursor_shows_the_exact_cell_value(rec):
    app = ReplayApp(DEMO)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("right", "right", "right", "right", "right")  # step 5
        await pilot.press("l", "l", "j")  # row 1 (p1), column 2 (v0)
        await settle(pilot, app)
        s5 = rec.step(5)
        selected = app.shown("selected")
        assert selected.startswith("J_s[p1,v0] qpos:hinge_1←qvel:slider")
        assert f"= {format_value(s5.jac_state[0, 1, 2])}" in selected
        assert app.query_one("#heatmap").cursor == (1, 2)
        # J_s[p1, p0] is a structural zero of the cart-pole (translation invariance)
        await pilot.press("h", "h")
        assert s5.zero_state[0, 1, 0]
        assert f"= {format_value(s5.jac_state[0, 1, 0])} (zero)" in app.shown("selected")
        # the J_a column comes after the n = 4 state columns
        await pilot.press("l", "l", "l", "l", "l", "l", "j", "j")  # clamped at column 4, row 3
        selected = app.shown("selected")
        assert selected.startswith("J_a[v1,a0]")
        assert f"= {format_value(s5.jac_action[0, 3, 0])}" in selected
        heatmap_lines = app.shown("heatmap").split("\n")
        assert heatmap_lines[1].split() == ["p0", "p1", "v0", "v1", "│a0"]
        row_v1 = next(line for line in heatmap_lines if line.startswith("v1 hinge_1"))
        assert row_v1.rstrip().endswith("[ ]")  # the cursor cell


@run_async
async def test_seek_by_step_and_percentage():
    app = ReplayApp(DEMO)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("g", *"50%", "enter")
        await settle(pilot, app)
        assert "step 60/119" in status(app)  # 0.5 * 119 = 59.5 -> 60
        await pilot.press("g", "3", "7", "enter")
        await settle(pilot, app)
        assert "step 37/119" in status(app)
        await pilot.press("g", "5", "0", "0", "enter")  # past the end: the prompt says so
        await pilot.pause()
        assert "past the episode's last step 119" in text_of(app, "#seek-error")
        await pilot.press("escape")
        await settle(pilot, app)
        assert "step 37/119" in status(app)


@run_async
async def test_next_previous_episode_and_picker(rec):
    app = ReplayApp(DEMO)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("right", "n")
        await settle(pilot, app)
        assert "ep 1/1 · step 0/119" in status(app)
        s = rec.step(120)
        assert f"= {format_value(s.jac_state[0, 0, 0])}" in app.shown("selected")
        await pilot.press("n")  # no episode 2: stays
        await settle(pilot, app)
        assert "ep 1/1" in status(app)
        await pilot.press("p")
        await settle(pilot, app)
        assert "ep 0/1 · step 0/119" in status(app)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EpisodePicker)
        await pilot.press("down", "enter")
        await settle(pilot, app)
        assert "ep 1/1" in status(app)
        ret = f"{rec.episodes[1].ret:.3f}"
        await pilot.press("e")
        await pilot.pause()
        assert ret in str(app.screen.query_one("#episodes").get_option_at_index(1).prompt)
        await pilot.press("escape")


@run_async
async def test_play_pause_and_speed():
    app = ReplayApp(DEMO)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("minus")
        assert "PAUSE 5/s" in status(app)
        await pilot.press("plus", "plus", "plus", "plus", "plus", "plus")  # 5 -> ... -> 240
        assert "240/s" in status(app)
        await pilot.press("minus", "minus", "minus")
        assert "30/s" in status(app)
        await pilot.press("space")
        assert "PLAY" in status(app)
        await pilot.pause(0.2)  # about 6 steps of the 120
        await pilot.press("space")
        await settle(pilot, app)
        assert "PAUSE" in status(app)
        t = app.t
        assert 0 < t <= 119
        assert f"step {t}/119" in status(app)
        await pilot.pause(0.2)
        assert app.t == t  # paused: no more steps
        # playing from the end starts over and stops at the last step (120 steps in 0.5 s)
        await pilot.press("plus", "plus", "plus", "end", "space")
        assert "240/s" in status(app)
        for _ in range(1000):
            await pilot.pause(0.02)
            if not app.playing:
                break
        await settle(pilot, app)
        assert not app.playing and "step 119/119 · PAUSE" in status(app)


@run_async
async def test_help_screen_lists_every_key():
    app = ReplayApp(DEMO)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = key_rows(app.screen.query_one("#help-keys").content)
        assert len(rows) == len(app.BINDINGS)
        described = {desc for _, desc in rows}
        for b in app.BINDINGS:
            assert (b.tooltip or b.description) in described
        keys = " ".join(k for k, _ in rows)
        for k in ("space", "left", "right", "home", "end", "g", "-", "+", "p", "n", "e", "?", "q"):
            assert k in keys
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


def _error_text(app: ReplayApp) -> tuple[str, str]:
    screen = app.screen
    assert isinstance(screen, ErrorScreen)
    return text_of(app, "#error-title"), text_of(app, "#error-message")


@run_async
async def test_missing_file_shows_an_error_screen(tmp_path):
    path = tmp_path / "missing.jwr"
    app = ReplayApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        title, message = _error_text(app)
        assert title == "Cannot open recording"
        assert message == _library_message(path)
        assert str(path) in message
        await pilot.press("escape")  # nothing to replay: escape does not leave
        assert isinstance(app.screen, ErrorScreen)
        await pilot.press("q")
    assert app.return_code == 0


def _library_message(path: Path, episode: int | None = None) -> str:
    try:
        with open_recording(path) as r:
            if episode is not None:
                r.episode(episode)
    except RecordingError as exc:
        return str(exc)
    except OSError as exc:  # what the OS says, named by the file
        return f"{exc.filename}: {exc.strerror}"
    raise AssertionError("the library read the corrupted file without complaint")


@run_async
async def test_corrupt_header_shows_the_library_message(tmp_path):
    path = tmp_path / "bad-header.jwr"
    data = bytearray(DEMO.read_bytes())
    data[40] ^= 0xFF  # inside the JSON header
    path.write_bytes(bytes(data))
    app = ReplayApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        title, message = _error_text(app)
        assert title == "Cannot open recording"
        assert message == _library_message(path)
        assert "checksum" in message and str(path) in message


@run_async
async def test_corrupt_chunk_shows_the_library_message(tmp_path):
    path = tmp_path / "bad-chunk.jwr"
    data = bytearray(DEMO.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))
    app = ReplayApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        title, message = _error_text(app)
        assert title == "Cannot read recording"
        assert message == _library_message(path, episode=0)


def _rechunk(src: Path, dst: Path, chunk_steps: int) -> None:
    """Copy a recording with small chunks (so that a cut leaves whole chunks readable)."""
    with open_recording(src) as r, RecordingWriter(dst, r.header, max_chunk_steps=chunk_steps) as w:
        for ep in r.episodes:
            s = r.episode(ep.index)
            for k in range(len(s)):
                w.add(
                    obs=s.obs[k],
                    action=s.action[k],
                    reward=s.reward[k],
                    terminated=s.terminated[k],
                    truncated=s.truncated[k],
                    state=s.state[k],
                    next_state=s.next_state[k],
                    jac_state=s.jac_state[k],
                    jac_action=s.jac_action[k],
                    end_episode=k == len(s) - 1,
                )


@run_async
async def test_truncated_file_replays_what_is_readable(tmp_path, rec):
    whole = tmp_path / "whole.jwr"
    _rechunk(DEMO, whole, chunk_steps=50)
    cut = tmp_path / "cut.jwr"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.7)])
    with open_recording(cut) as r:
        expected_tail = r.truncated_tail
        readable = [e.length for e in r.episodes]
    assert expected_tail and readable[0] == 120 and len(readable) == 2 and readable[1] < 120
    app = ReplayApp(cut)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        title, message = _error_text(app)
        assert title == "Truncated recording" and message == expected_tail
        await pilot.press("escape")
        await settle(pilot, app)
        assert "ep 0/1 · step 0/119" in status(app)
        await pilot.press("n", "end")
        await settle(pilot, app)
        last = readable[1] - 1
        assert f"ep 1/1 · step {last}/{last}" in status(app)
        s = rec.step(120 + last)
        assert f"= {format_value(s.jac_state[0, 0, 0])}" in app.shown("selected")


def _summary_raw(mode: str, seed: int, mse: float, learned: float, target: float) -> dict:
    sp = {"state": learned, "action": learned, "combined": learned}
    metrics = {
        "test_mse": mse,
        "test_jacobian_mse": 1.0,
        "test_jacobian_mae": 1.0,
        "test_jacobian_mae_on_zeros": 1.0,
        "sparsity": sp,
    }
    history = {k: [1.0] for k in HISTORY_KEYS}
    return {
        "schema": "jacwrap.fit-summary",
        "schema_version": 1,
        "loss_mode": mode,
        "seed": seed,
        "residual": False,
        "env_name": "CartpoleBalance",
        "n": 4,
        "m": 1,
        "recordings": [str(DEMO)],
        "created": "2026-01-01T00:00:00+00:00",
        "versions": {},
        "config": {},
        "data": {
            "num_samples": 240,
            "num_train": 216,
            "num_test": 24,
            "dropped_nonfinite": 0,
            "recording_threshold": 1e-12,
        },
        "timing": {"wall_s": 1.0, "compile_s": 0.0, "train_s": 1.0, "samples_per_s": 1.0},
        "learned_threshold": 1e-6,
        "target_sparsity": {"state": target, "action": target, "combined": target},
        "initial": metrics,
        "final": metrics,
        "history": history,
        "model_file": None,
    }


@run_async
async def test_fit_panel_shows_summaries_next_to_the_recording(tmp_path):
    path = tmp_path / "demo.jwr"
    shutil.copy(DEMO, path)
    app = ReplayApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert app.shown("fit") == "no fit summaries found"
    for seed, mse in ((0, 0.01), (1, 0.03)):
        raw = _summary_raw("state", seed, mse, learned=0.002, target=0.15)
        write_summary(FitSummary(raw), fits_dir(path) / f"state-seed{seed}.json")
    raw = _summary_raw("state-jacobian-l1-sparse-only", 0, 0.5, learned=0.1, target=0.15)
    write_summary(FitSummary(raw), fits_dir(path) / "sparse-seed0.json")
    app = ReplayApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        lines = app.shown("fit").split("\n")
        assert lines[1].split() == ["state", "2", "2.00e-02", "0.002/0.150"]
        assert lines[2].split() == ["l1-sparse", "1", "5.00e-01", "0.100/0.150"]


def test_replay_command_is_registered():
    from jacwrap.cli import build_parser
    from jacwrap.commands import replay

    args = build_parser().parse_args(["replay", str(DEMO)])
    assert args.func is replay.run and args.file == str(DEMO)


def test_library_never_imports_textual():
    code = (
        "import sys, jacwrap, jacwrap.recording, jacwrap.episode_stats, jacwrap.sparsity, jacwrap.cli;"
        "jacwrap.cli.build_parser();"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('textual', 'tui')], "
        "sorted(m for m in sys.modules if m.startswith(('textual', 'tui')))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=300)


def test_episode_arrays_in_the_app_match_the_reader(rec):
    # the episode view holds exactly the reader's per-step series (no copy of decoding)
    from tui.source import RecordingSource

    src = RecordingSource.open(DEMO)
    view = src.load_episode(0)
    np.testing.assert_array_equal(view.reward, rec.episode(0).reward)
    np.testing.assert_array_equal(view.zero_state, rec.episode(0).zero_state)
    src.close()


class _SpyRecording:
    """A real recording that logs which steps the app asks for."""

    def __init__(self, rec):
        self._rec = rec
        self.reads: list[tuple[int, int]] = []
        self.chunk_episodes: list[int | None] = []

    def __getattr__(self, name):
        return getattr(self._rec, name)

    def read(self, start, stop):
        self.reads.append((start, stop))
        return self._rec.read(start, stop)

    def iter_chunks(self, episode=None):
        self.chunk_episodes.append(episode)
        return self._rec.iter_chunks(episode)


@run_async
async def test_reads_only_the_current_episode_and_small_blocks(tmp_path):
    path = tmp_path / "small-chunks.jwr"
    _rechunk(DEMO, path, chunk_steps=20)
    spies: list[_SpyRecording] = []

    def opener(p):
        spies.append(_SpyRecording(open_recording(p)))
        return spies[-1]

    app = ReplayApp(path, opener=opener)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        (spy,) = spies
        app.source.block_steps = 32  # blocks smaller than an episode
        app.source._blocks.clear()
        await pilot.press("g", *"70", "enter")
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        assert "ep 1/1 · step 0/119" in status(app)
    assert spy.chunk_episodes == [0, 1]  # streamed episode by episode, never the whole file
    # the first block (256 steps, clipped to the file), step 70's 32-step block, episode 1's
    # first (global step 120) and the one after it, read ahead as step 120 is near its end
    assert spy.reads == [(0, 240), (64, 96), (96, 128), (128, 160)]


def _demo_with_contacts(path: Path, pairs: tuple[str, ...]) -> np.ndarray:
    """The demo's first episode rewritten as a version 2 file with planted contact masks."""
    import dataclasses

    with open_recording(DEMO) as old:
        header = dataclasses.replace(old.header, contact_pairs=pairs, format_version=2)
        s = old.episode(0)
    k = len(s)
    contacts = np.zeros((k, len(pairs)), bool)
    contacts[5:9, 0] = True
    contacts[7:12, 1] = True
    with RecordingWriter(path, header) as w:
        w.add_batch(
            **{f: getattr(s, f) for f in w.fields if getattr(s, f, None) is not None},
            contacts=contacts,
            contacts_start=contacts,
            n_contacts=contacts.sum(1).astype(np.int32) * 2,
            n_constraints=contacts.sum(1).astype(np.int32) * 6,
            env_indices=[0] * k,
        )
    return contacts


@run_async
async def test_contacts_panel_and_trace_row(tmp_path):
    """A version 2 file: the step's pairs in the contacts panel, a ``con`` row in the trace;
    the version 1 demo says it has no contact data and replays as before."""
    path = tmp_path / "contacts.jwr"
    _demo_with_contacts(path, ("floor:left", "floor:right", "pole:cart"))
    app = ReplayApp(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        assert app.shown("contacts").startswith("no contact\n0/3 pairs")
        app.goto(8)
        await settle(pilot, app)
        assert app.shown("contacts") == (
            "floor:left, floor:right\n2/3 pairs · 4 contacts · 12 rows"
        )
        assert "con " in text_of(app, "#trace")
    app = ReplayApp(DEMO)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert app.shown("contacts") == "no contact data in this recording"
        assert "(no contact data)" in text_of(app, "#trace")
