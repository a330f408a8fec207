"""The replay app's robot view: half-block pixels decode back to the image, the panel shows the
pose that jacwrap.render draws for the recorded state of the step shown, follows the step,
toggles with r (listed in ?), and says why when it cannot render."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from pathlib import Path

import numpy as np

from jacwrap.recording import RecordingWriter, open_recording
from jacwrap.render import StateRenderer
from jacwrap.render.video import task_model
from tui.app import ReplayApp
from tui.screens.help import HelpScreen, key_rows
from tui.widgets.robot import CHANNEL_MASK, HALF_BLOCK, half_blocks

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "recordings" / "demo-CartpoleBalance.jwr"


def run_async(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


def decode(lines) -> np.ndarray:
    """The image half-block lines show: upper pixel = foreground, lower = background."""
    rows = []
    for line in lines:
        top, bottom = [], []
        for seg in line:
            assert set(seg.text) == {HALF_BLOCK}
            top += [seg.style.color.triplet] * len(seg.text)
            bottom += [seg.style.bgcolor.triplet] * len(seg.text)
        rows += [top, bottom]
    return np.array(rows, dtype=np.uint8)


def test_half_blocks_decode_to_the_image():
    img = np.random.default_rng(0).integers(0, 256, (10, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode(half_blocks(img)), img & CHANNEL_MASK)
    odd = decode(half_blocks(img[:9]))
    np.testing.assert_array_equal(odd[:9], img[:9] & CHANNEL_MASK)
    assert not odd[9].any()  # the missing lower half is black
    flat = half_blocks(np.full((4, 30, 3), 7, np.uint8))
    assert [len(list(line)) for line in flat] == [1, 1]  # one segment per row of equal cells
    assert all(line.cell_length == 30 for line in flat)


async def wait_for(pilot, condition, timeout: float = 120.0) -> None:
    waited = 0.0
    while not condition():
        await pilot.pause(0.05)
        waited += 0.05
        if waited > timeout:
            raise AssertionError("timed out")


def robot_title(app) -> str:
    return str(app.query_one("#robot-title").content)


@run_async
async def test_robot_view_shows_the_recorded_pose_follows_the_step_and_toggles():
    with open_recording(DEMO) as rec:
        header, states = rec.header, rec.episode(0).state
    app = ReplayApp(DEMO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.ready)
        box = app.query_one("#robot-box")
        assert not box.display
        await pilot.press("r")
        assert box.display
        await wait_for(pilot, lambda: robot_title(app) == "Robot view · step 0")
        shown = decode(app.query_one("#robot").lines)
        assert shown.shape == (16, 45, 3)  # the panel's 45 x 8 cells at 80x24
        model = task_model(header.env_name, header.nq, header.nv)
        with StateRenderer(model, width=45, height=16, shadows=False, reflections=False) as r:
            np.testing.assert_array_equal(shown, r.render(states[0]) & CHANNEL_MASK)
            later = r.render(states[60]) & CHANNEL_MASK
        await pilot.press("g")
        for key in "60":
            await pilot.press(key)
        await pilot.press("enter")
        await wait_for(pilot, lambda: robot_title(app) == "Robot view · step 60")
        np.testing.assert_array_equal(decode(app.query_one("#robot").lines), later)
        assert app.shown("bars")  # everything else still shows
        await pilot.press("r")
        assert not box.display
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = dict(key_rows(app.screen.query_one("#help-keys").content))
        assert keys["r"] == "robot view (the step's pose)"


@run_async
async def test_robot_view_says_why_it_cannot_render_and_the_rest_works(tmp_path):
    other = tmp_path / "mine.jwr"  # a recording of an env jacwrap cannot rebuild
    with open_recording(DEMO) as r:
        header = dataclasses.replace(r.header, env_name="MyCartpole")
        with RecordingWriter(other, header) as w:
            s = r.episode(0)
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
    app = ReplayApp(other)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.ready)
        await pilot.press("r")
        await wait_for(pilot, lambda: app.robot_error is not None)
        message = app.query_one("#robot-message")
        assert message.display and "'MyCartpole' is not a jacwrap task" in str(message.content)
        await pilot.press("right")
        await wait_for(pilot, lambda: app.ready and app.t == 1)
        assert "step 1/119" in app.shown("status")


def test_the_panel_grows_with_the_terminal():
    async def run():
        app = ReplayApp(DEMO)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.ready)
            await pilot.press("r")
            await pilot.pause()
            return app.query_one("#robot").pixel_size()

    width, height = asyncio.run(run())
    assert width > 45 and height > 16 and height % 2 == 0
