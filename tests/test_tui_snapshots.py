"""Snapshots (pytest-textual-snapshot) of the replay app on the committed demo recording, at
80x24 and 120x40. Update after an intended change with ``pytest --snapshot-update``."""

from __future__ import annotations

from pathlib import Path

from tui.app import ReplayApp
from tui.screens.error import ErrorScreen

DEMO = Path(__file__).resolve().parent.parent / "recordings" / "demo-CartpoleBalance.jwr"


async def _ready(pilot) -> None:
    app = pilot.app
    for _ in range(1000):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if app.ready or isinstance(app.screen, ErrorScreen):
            return
        await pilot.pause(0.02)
    raise AssertionError("app not ready")


def _keys(*keys: str):
    async def run_before(pilot) -> None:
        await _ready(pilot)
        for key in keys:
            await pilot.press(key)
            await _ready(pilot)

    return run_before


# step 5, cursor on J_s[p1, v0]
MAIN_KEYS = ("right",) * 5 + ("l", "l", "j")


def test_main_view_80x24(snap_compare):
    assert snap_compare(ReplayApp(DEMO), terminal_size=(80, 24), run_before=_keys(*MAIN_KEYS))


def test_main_view_120x40(snap_compare):
    assert snap_compare(ReplayApp(DEMO), terminal_size=(120, 40), run_before=_keys(*MAIN_KEYS))


def test_second_episode_end_120x40(snap_compare):
    keys = ("n", "end", "l", "l", "l", "l", "j", "j", "j")  # cursor on J_a[v1, a0]
    assert snap_compare(ReplayApp(DEMO), terminal_size=(120, 40), run_before=_keys(*keys))


def test_help_screen_80x24(snap_compare):
    assert snap_compare(ReplayApp(DEMO), terminal_size=(80, 24), run_before=_keys("question_mark"))


def test_episode_picker_80x24(snap_compare):
    assert snap_compare(ReplayApp(DEMO), terminal_size=(80, 24), run_before=_keys("e", "down"))


def test_error_screen_80x24(snap_compare, tmp_path, monkeypatch):
    data = bytearray(DEMO.read_bytes())
    data[40] ^= 0xFF  # corrupt the header
    (tmp_path / "corrupt.jwr").write_bytes(bytes(data))
    monkeypatch.chdir(tmp_path)  # the message names the file as given: keep it short and fixed
    assert snap_compare(ReplayApp("corrupt.jwr"), terminal_size=(80, 24), run_before=_keys())
