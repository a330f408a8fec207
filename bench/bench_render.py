"""Rendering speed: ``env.render()``, ``jacwrap render``, and the robot view's cost to the replay app.

``python -m bench.bench_render [--frames 200] [--envs CartpoleBalance CheetahRun]`` prints:

- ``render()``: frames/s of ``env.render()`` at 240x320 (rgb_array) along a random rollout
  (the step's own time subtracted), per task and per OpenGL backend (EGL, OSMesa; each in
  a fresh process), and the first call's time (it makes the OpenGL context);
- ``jacwrap render``: frames/s of the video pipeline (MuJoCo frame, sparsity strip, H.264
  encode) on the demo recording at 320x240, with and without ``--no-shadows``, and the
  command's wall time (model load included);
- replay: steps shown per second while playing at 30 steps/s, with the robot view off and
  on (80x24 and 120x40), and robot frames drawn per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.fresh import run_fresh

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "recordings" / "demo-CartpoleBalance.jwr"

_RENDER = r"""
import json, os, sys, time
import jacwrap
name, frames = sys.argv[1], int(sys.argv[2])
env = jacwrap.make(name, jacobians=False, render_mode="rgb_array", width=320, height=240)
env.reset(seed=0)
env.step(env.action_space.sample())  # compile the step first
t = time.perf_counter()
env.render()  # makes the OpenGL context
first = time.perf_counter() - t
t, c = time.perf_counter(), time.process_time()
for _ in range(frames):
    env.step(env.action_space.sample())
    env.render()
both, cpu_both = time.perf_counter() - t, time.process_time() - c
t, c = time.perf_counter(), time.process_time()
for _ in range(frames):
    env.step(env.action_space.sample())
steps, cpu_steps = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"backend": os.environ["MUJOCO_GL"], "fps": frames / (both - steps),
                  "cpu_ms": 1e3 * (cpu_both - cpu_steps) / frames, "first_s": first}))
"""


def bench_env_render(name: str, frames: int, backend: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    environ["MUJOCO_GL"] = backend
    return run_fresh(_RENDER, [name, frames], environ, timeout=900)


def bench_video(size: tuple[int, int] = (320, 240), shadows: bool = True) -> dict:
    """Frames/s of the ``jacwrap render`` pipeline on the demo recording, and the CLI's wall."""
    import subprocess
    import sys

    from jacwrap.recording import open_recording
    from jacwrap.render.video import render_states_video, task_model

    with open_recording(DEMO) as rec:
        header, ep = rec.header, rec.episode(0)
    model = task_model(header.env_name, header.nq, header.nv)

    def cpu() -> float:  # this process and its finished children (ffmpeg)
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ep0.mp4"
        t, c = time.perf_counter(), cpu()
        n = render_states_video(
            model, ep.state, ep.sparsity, out, width=size[0], height=size[1], shadows=shadows
        )
        pipeline = n / (time.perf_counter() - t)
        cpu_ms = 1e3 * (cpu() - c) / n
        cli_out = Path(tmp) / "cli.mp4"
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "jacwrap", "render", str(DEMO), "--out", str(cli_out)]
            + ["--no-progress"]
            + ([] if shadows else ["--no-shadows"]),
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - t
    return {"frames": n, "fps": pipeline, "cpu_ms": cpu_ms, "cli_wall_s": wall}


async def drive_replay(path: Path, robot: bool, size: tuple[int, int], seconds: float) -> dict:
    """Play at 30 steps/s for ``seconds``; steps shown per second and robot frames per second."""
    from tui.app import ReplayApp

    app = ReplayApp(path)
    shown: list[tuple[float, int]] = []
    robot_frames: list[float] = []
    async with app.run_test(size=size) as pilot:
        while not app.ready:
            await asyncio.sleep(0.01)
        if robot:
            await pilot.press("r")
            while "step" not in str(app.w_robot_title.content):  # model loaded, first frame
                await asyncio.sleep(0.05)
        original_show, original_frame = app.show_step, app.w_robot.show_lines

        def timed_show() -> None:
            original_show()
            shown.append((time.perf_counter(), app.t))

        def timed_frame(lines) -> None:
            original_frame(lines)
            robot_frames.append(time.perf_counter())

        app.show_step = timed_show
        app.w_robot.show_lines = timed_frame
        while app.speed_index != 5:  # 30 steps/s
            await pilot.press("plus" if app.speed_index < 5 else "minus")
        await pilot.press("space")
        await asyncio.sleep(seconds)
        await pilot.press("space")
        app.show_step = original_show
    times = np.array([s[0] for s in shown])
    steps = np.array([s[1] for s in shown])
    span = times[-1] - times[0]
    gaps = np.diff(times)
    return {
        "steps_per_s": float((steps[-1] - steps[0]) / span),
        "max_gap_ms": float(gaps.max() * 1e3),
        "robot_fps": len(robot_frames) / span if robot else 0.0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--envs", nargs="+", default=["CartpoleBalance", "CheetahRun"])
    p.add_argument("--backends", nargs="+", default=["egl", "osmesa"])
    p.add_argument("--play", type=float, default=5.0, help="seconds of playback to time")
    p.add_argument(
        "--parts",
        nargs="+",
        choices=("render", "video", "replay"),
        default=["render", "video", "replay"],
    )
    args = p.parse_args()

    if "render" in args.parts:
        print("env.render() at 240x320, rgb_array (frames/s; first frame of a new env in s)")
    for name in args.envs if "render" in args.parts else ():
        for backend in args.backends:
            r = bench_env_render(name, args.frames, backend)
            print(
                f"  {name:<16} {r['backend']:<7} {r['fps']:7.1f} frames/s  "
                f"{r['cpu_ms']:6.1f} ms CPU/frame   first {r['first_s']:.2f} s"
            )

    import jacwrap  # noqa: F401  (chooses the GL backend for this process)

    for shadows in (True, False) if "video" in args.parts else ():
        v = bench_video(shadows=shadows)
        print(
            f"jacwrap render{'' if shadows else ' --no-shadows'} (demo, 320x240 + strip): "
            f"{v['fps']:.1f} frames/s ({v['cpu_ms']:.1f} ms CPU/frame, ffmpeg included) over "
            f"{v['frames']} frames; the command took {v['cli_wall_s']:.1f} s (model load included)"
        )

    if "replay" not in args.parts:
        return
    from bench.bench_tui import write_synthetic

    path = Path(tempfile.gettempdir()) / "jacwrap-bench-render-cartpole.jwr"
    if not path.exists():
        write_synthetic(path, 10_000, "cartpole", envs=10)
    print(f"replay at 30 steps/s ({path.name}, {args.play:.0f} s of playback)")
    for size in ((80, 24), (120, 40)):
        for robot in (False, True):
            r = asyncio.run(drive_replay(path, robot, size, args.play))
            extra = f"   robot {r['robot_fps']:5.1f} frames/s" if robot else ""
            print(
                f"  {size[0]}x{size[1]} robot {'on ' if robot else 'off'}  "
                f"{r['steps_per_s']:5.1f} steps/s   max gap {r['max_gap_ms']:5.0f} ms{extra}"
            )


if __name__ == "__main__":
    main()
