"""Rendering (jacwrap.render): the OpenGL backend choice, frames checked against a pinhole
camera, depth against geometry, the sparsity strip, video files and ``jacwrap render``.

The frame oracles use a hand-written model: a red ball of radius 0.25 on a slide joint
along x, seen by a camera 3 m away along +y with MuJoCo's default 45 degree field of view.
Moving the ball by dx must move its image by f * dx / 3 pixels (f = (H / 2) / tan(22.5 deg)),
and the depth at the image centre is 3 - 0.25 m.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

import jacwrap
from jacwrap.cli import main as cli
from jacwrap.recording import open_recording
from jacwrap.render import RenderError, RendererUnavailableError, StateRenderer
from jacwrap.render.gl import (
    DEBIAN_PACKAGES,
    INSTALL_COMMAND,
    available_backends,
    choose_backend,
)
from jacwrap.render.strip import sparsity_strip, strip_height
from jacwrap.render.video import compose, write_video

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # imageio's ffmpeg
DEMO = ROOT / "recordings" / "demo-CartpoleBalance.jwr"

BALL_XML = """<mujoco><visual><global offwidth="640" offheight="480"/></visual><worldbody>
<light pos="0 -2 3" dir="0 0.5 -1" castshadow="true"/>
<geom type="plane" size="3 3 0.1" pos="0 0 -0.5" rgba="0.8 0.8 0.8 1"/>
<camera name="front" pos="0 -3 0" xyaxes="1 0 0 0 0 1"/>
<body name="ball"><joint name="x" type="slide" axis="1 0 0"/>
<geom type="sphere" size="0.25" rgba="1 0 0 1"/></body>
</worldbody></mujoco>"""


@pytest.fixture(scope="module")
def ball():
    import mujoco  # after jacwrap, which chose MUJOCO_GL (as a user's script would, in this order)

    return mujoco.MjModel.from_xml_string(BALL_XML)


def red_mask(img: np.ndarray) -> np.ndarray:
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return (r > g + 60) & (r > b + 60)


# ------------------------------------------------------------------ backend choice (pure)
def test_headless_linux_prefers_egl_then_osmesa():
    assert choose_backend({}, "Linux", lambda: ["egl", "osmesa"]).backend == "egl"
    assert choose_backend({}, "Linux", lambda: ["osmesa"]).backend == "osmesa"
    none = choose_backend({}, "Linux", lambda: [])
    assert none.backend is None and "neither EGL nor OSMesa" in none.reason


def test_user_setting_and_displays_are_left_alone():
    user = choose_backend({"MUJOCO_GL": "OSMesa"}, "Linux", lambda: ["egl"])
    assert user.backend == "osmesa" and "user" in user.reason
    assert choose_backend({"DISPLAY": ":0"}, "Linux", lambda: ["egl"]).backend is None
    assert choose_backend({}, "Darwin", lambda: ["egl"]).backend is None


def test_egl_needs_a_vendor_library_and_gl():
    libs = {"EGL": "libEGL.so.1", "OpenGL": "libOpenGL.so.0", "OSMesa": "libOSMesa.so.8"}
    assert available_backends(libs.get, lambda: True) == ["egl", "osmesa"]
    assert available_backends(libs.get, lambda: False) == ["osmesa"]  # glvnd without Mesa/NVIDIA
    assert available_backends({"EGL": "x"}.get, lambda: True) == []  # no libOpenGL/libGL


def test_setup_says_what_to_install_only_when_nothing_renders(monkeypatch):
    from jacwrap.render import gl

    for var in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(gl, "available_backends", lambda: [])
    assert INSTALL_COMMAND in (gl.setup_hint() or "")
    monkeypatch.setattr(gl, "available_backends", lambda: ["osmesa"])
    assert gl.setup_hint() is None


def test_ci_installs_the_packages_the_error_names():
    ci = (ROOT / ".ci" / "run").read_text()
    line = next(ln for ln in ci.splitlines() if "apt-get install" in ln)
    named = set(INSTALL_COMMAND.split()[3:])
    assert named == set(DEBIAN_PACKAGES["egl"] + DEBIAN_PACKAGES["osmesa"])
    assert named <= set(line.split())


def _python(code: str, **env: str | None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    environ.pop("DISPLAY", None)
    environ.pop("WAYLAND_DISPLAY", None)
    environ.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=120
    )


RENDER_BALL = f"""
import os, numpy as np
import jacwrap, mujoco
from jacwrap.render import StateRenderer
r = StateRenderer(mujoco.MjModel.from_xml_string({BALL_XML!r}))
img = r.render(np.zeros(2))
print(os.environ.get("MUJOCO_GL"), float(img.std()))
"""


def test_import_jacwrap_picks_a_headless_backend_that_renders():
    expected = available_backends()
    assert expected, f"no EGL/OSMesa on this machine: {INSTALL_COMMAND}"
    out = _python(RENDER_BALL)
    assert out.returncode == 0, out.stderr
    backend, std = out.stdout.split()
    assert backend == expected[0] and float(std) > 5


def test_osmesa_renders_the_same_scene():
    out = _python(RENDER_BALL, MUJOCO_GL="osmesa")
    assert out.returncode == 0, out.stderr
    backend, std = out.stdout.split()
    assert backend == "osmesa" and float(std) > 5


def test_no_usable_backend_names_the_packages_to_install():
    code = f"""
import jacwrap, mujoco
from jacwrap.render import StateRenderer, RendererUnavailableError
try:
    StateRenderer(mujoco.MjModel.from_xml_string({BALL_XML!r}))
except RendererUnavailableError as exc:
    print(exc)
"""
    out = _python(code, MUJOCO_GL="glfw")  # GLFW without a display: no context
    assert out.returncode == 0, out.stderr
    assert INSTALL_COMMAND in out.stdout and "MUJOCO_GL=egl" in out.stdout


# ------------------------------------------------------------------ frames (oracles)
def test_moving_the_ball_moves_its_image_as_a_pinhole_camera_predicts(ball):
    with StateRenderer(ball, width=320, height=240) as r:
        assert r.camera == 0  # the model's own camera by default
        a, b = r.render(np.array([0.0, 0.0])), r.render(np.array([0.5, 0.0]))
    assert a.shape == (240, 320, 3) and a.dtype == np.uint8
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 10  # not one colour
    ca, cb = (np.nonzero(red_mask(x))[1].mean() for x in (a, b))
    assert ca == pytest.approx(159.5, abs=1.5)  # centred
    f = 120 / math.tan(math.radians(22.5))
    assert cb - ca == pytest.approx(f * 0.5 / 3, rel=0.05)  # 48.3 px to the right


def test_depth_at_the_centre_is_the_distance_to_the_ball(ball):
    with StateRenderer(ball, width=320, height=240, depth=True) as r:
        depth = r.render(np.zeros(2))
    assert depth.shape == (240, 320) and depth.dtype == np.float32
    assert depth[120, 160] == pytest.approx(3.0 - 0.25, abs=0.01)
    assert depth[0, 0] > 5  # background: the far plane


def test_turning_shadows_off_only_brightens_the_frame(ball):
    with StateRenderer(ball, width=160, height=120) as lit:
        shadowed = lit.render(np.zeros(2)).astype(int)
    with StateRenderer(ball, width=160, height=120, shadows=False) as flat:
        plain = flat.render(np.zeros(2)).astype(int)
    darker = shadowed.sum(axis=2) < plain.sum(axis=2) - 30
    assert darker.sum() > 50  # the ball's shadow on the floor
    assert (shadowed.sum(axis=2) <= plain.sum(axis=2) + 20).all()  # nothing gets brighter


def test_frames_can_come_from_any_thread_one_at_a_time(ball):
    r = StateRenderer(ball, width=64, height=48)
    frames: list[np.ndarray] = []
    for x in (0.0, 0.2, 0.4):  # EGL contexts left bound to an ended thread fail the next one
        t = threading.Thread(target=lambda x=x: frames.append(r.render(np.array([x, 0.0]))))
        t.start()
        t.join()
    r.close()
    cols = [np.nonzero(red_mask(f))[1].mean() for f in frames]
    assert len(frames) == 3 and cols[0] < cols[1] < cols[2]


def test_bad_options_raise_render_errors(ball):
    with pytest.raises(RenderError, match="front"):
        StateRenderer(ball, camera="side")
    with pytest.raises(RenderError, match="640x480"):
        StateRenderer(ball, width=1000)
    with StateRenderer(ball, camera="free", width=32, height=32) as r:
        assert r.camera == -1
        with pytest.raises(RenderError, match=r"\(2,\)"):
            r.render(np.zeros(3))
        assert not r.render(np.array([np.nan, 0.0])).any()  # a blow-up renders black
    with pytest.raises(RenderError, match="closed"):
        r.render(np.zeros(2))


def test_missing_backend_error_is_typed():
    assert issubclass(RendererUnavailableError, jacwrap.JacwrapError)


# ------------------------------------------------------------------ strip and video
def test_strip_draws_each_curve_at_its_value_and_marks_the_step():
    sp = np.zeros((50, 3))
    sp[:, 0] = 0.25
    sp[:, 1] = np.linspace(0, 1, 50)
    strip = sparsity_strip(sp, 320, strip_height(320))
    assert strip.image.shape == (80, 320, 3)
    assert (np.diff(strip.columns) > 0).all()  # steps left to right
    col = strip.columns[25]

    def near(value: float) -> np.ndarray:  # the three pixels around a value's row (antialiased)
        return strip.image[strip.row_of(value) - 1 : strip.row_of(value) + 2, col].astype(int)

    assert ((near(0.25)[:, 2] - near(0.25)[:, 0]) > 100).any()  # J_s, blue, at 0.25
    assert ((near(sp[25, 1])[:, 0] - near(sp[25, 1])[:, 2]) > 100).any()  # J_a, orange
    assert not ((near(0.9)[:, 2] - near(0.9)[:, 0]) > 100).any()  # nothing blue elsewhere
    marked = strip.at(10)
    changed = np.nonzero((marked != strip.image).any(axis=2))
    assert set(changed[1]) == {strip.columns[10]}


def test_compose_pads_to_even_sides():
    out = compose(np.zeros((11, 15, 3), np.uint8), np.ones((6, 15, 3), np.uint8))
    assert out.shape == (18, 16, 3) and out[11:17, :15].all()


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_videos_decode_to_the_frames_written(tmp_path, suffix):
    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(12)]
    path = tmp_path / f"v{suffix}"
    assert write_video(path, frames, fps=25) == 12
    back = iio.imread(path, index=None)
    assert back.shape[:3] == (12, 48, 64)
    assert np.abs(back[..., :3].mean(axis=(1, 2, 3)) - 10 * np.arange(12)).max() < 3


# ------------------------------------------------------------------ jacwrap render
def test_render_command_writes_one_frame_per_step_of_the_episode(tmp_path, capsys):
    out = tmp_path / "ep1.mp4"
    argv = ["render", str(DEMO), "--episode", "1", "--out", str(out), "--size", "64x48"]
    argv.append("--no-shadows")
    assert cli([*argv, "--no-progress"]) == 0
    with open_recording(DEMO) as rec:
        steps = rec.episodes[1].length
    frames = iio.imread(out, index=None)
    assert frames.shape == (steps, 48 + strip_height(64), 64, 3)
    assert f"({steps} frames)" in capsys.readouterr().out
    # the robot moves and the marker walks along the strip: consecutive frames differ
    assert (frames[0] != frames[-1]).any()
    # an existing video is kept unless --overwrite
    assert cli([*argv, "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_render_command_names_the_episodes_there_are(tmp_path, capsys):
    assert cli(["render", str(DEMO), "--episode", "7", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "episodes 0..1" in capsys.readouterr().err
