"""Replay app on a large recording: time to open, to load an episode, and playback rate.

``python -m bench.bench_tui [--steps 1000000] [--shape cartpole|cheetah] [--path FILE]`` writes
a synthetic recording of that env's shape (episodes of 1000 steps; kept and reused), then
drives the real app headless (Textual's Pilot) and prints a small table:

- open: from app start to the first step's heatmap on screen;
- playback: steps shown per second while playing at 30 steps/s for a few seconds, and
  the longest gap between two shown steps (a stutter shows up as a long gap);
- episode: median time from pressing ``n`` to the next episode's first step on screen;
- peak RSS of the process after opening and at the end (memory is bounded by the episode).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from pathlib import Path

import numpy as np

from jacwrap.recording import RecordingHeader, RecordingWriter, open_recording

EPISODE = 1000


SHAPES = {"cartpole": ("CartpoleBalance", 2, 1, 5), "cheetah": ("CheetahRun", 9, 6, 17)}


def write_synthetic(path: Path, steps: int, shape: str = "cartpole", envs: int = 100) -> None:
    """A recording of ``steps`` steps in episodes of 1000 at an env's shape (n, m).

    J_s is the identity plus a dense velocity block whose entries switch between zero and
    non-zero on per-element phases (about half of them zero at any step); J_a is dense in
    the velocity rows with the same switching. Values span 1e-6 .. 1.
    """
    env_name, nq, nu, obs_dim = SHAPES[shape]
    n = 2 * nq
    header = RecordingHeader(
        env_name=env_name,
        nq=nq,
        nv=nq,
        nu=nu,
        obs_dim=obs_dim,
        state_labels=tuple(f"qpos:q{i}" for i in range(nq))
        + tuple(f"qvel:q{i}" for i in range(nq)),
        action_labels=tuple(f"act:u{i}" for i in range(nu)),
        threshold=1e-12,
        policy="synthetic (bench)",
    )
    rng = np.random.default_rng(0)
    rounds = max(1, steps // (envs * EPISODE))
    elem_phase_s = rng.uniform(0, 2 * np.pi, (nq, n))
    elem_phase_a = rng.uniform(0, 2 * np.pi, (nq, nu))
    scale_s = 10.0 ** rng.uniform(-6, 0, (nq, n))
    with RecordingWriter(path, header, overwrite=True) as w:
        for _ in range(rounds):
            phase = rng.uniform(0, 2 * np.pi, envs)[:, None, None]
            for t in range(EPISODE):
                s_s = np.sin(0.05 * t + phase + elem_phase_s)  # (envs, nq, n)
                s_a = np.sin(0.05 * t + phase + elem_phase_a)
                js = np.broadcast_to(np.eye(n), (envs, n, n)).copy()
                js[:, :nq, nq:] += 0.01 * np.eye(nq)
                js[:, nq:, :] += np.where(s_s > 0, scale_s * s_s, 0.0)
                ja = np.zeros((envs, n, nu))
                ja[:, nq:, :] = np.where(s_a > 0, 0.05 * s_a, 0.0)
                state = rng.normal(size=(envs, n))
                w.add_batch(
                    obs=rng.normal(size=(envs, obs_dim)).astype(np.float32),
                    action=rng.uniform(-1, 1, (envs, nu)),
                    reward=0.5 + 0.5 * np.sin(0.05 * t + phase[:, 0, 0]),
                    terminated=np.zeros(envs, bool),
                    truncated=np.full(envs, t == EPISODE - 1),
                    state=state,
                    next_state=state + 0.01,
                    jac_state=js,
                    jac_action=ja,
                )


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def drive(path: Path, play_seconds: float) -> dict[str, float]:
    from tui.app import ReplayApp

    app = ReplayApp(path)
    shown: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    async with app.run_test(size=(80, 24)) as pilot:
        heatmap = app.query_one("#heatmap")
        while heatmap.data is None:
            await asyncio.sleep(0.005)
        opened = time.perf_counter() - t0
        rss_open = rss_mb()
        original = app.show_step

        def timed_show() -> None:
            original()
            shown.append((time.perf_counter(), app.t))

        app.show_step = timed_show
        while app.speed_index != 5:  # 30 steps/s
            await pilot.press("plus" if app.speed_index < 5 else "minus")
        await pilot.press("space")
        await asyncio.sleep(play_seconds)
        app.show_step = original
        await pilot.press("space")
        switches = []
        for _ in range(3):  # episode switches: time to the next episode's first step on screen
            t_switch = time.perf_counter()
            await pilot.press("n")
            while not app.ready:
                await asyncio.sleep(0.002)
            switches.append(time.perf_counter() - t_switch)
    times = np.array([s[0] for s in shown])
    steps = np.array([s[1] for s in shown])
    gaps = np.diff(times) if len(times) > 1 else np.array([np.nan])
    span = times[-1] - times[0] if len(times) > 1 else np.nan
    return {
        "open_s": opened,
        "switch_ms": float(np.median(switches) * 1e3),
        "steps_per_s": (steps[-1] - steps[0]) / span,
        "frames_per_s": (len(times) - 1) / span,
        "max_gap_ms": float(np.max(gaps) * 1e3),
        "p95_gap_ms": float(np.percentile(gaps, 95) * 1e3),
        "rss_open_mb": rss_open,
        "rss_end_mb": rss_mb(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--path", type=Path, default=Path("/tmp/jacwrap-bench-1M.jwr"))
    p.add_argument("--shape", choices=sorted(SHAPES), default="cartpole")
    p.add_argument("--envs", type=int, default=100, help="episodes written side by side")
    p.add_argument("--play", type=float, default=5.0, help="seconds of playback to time")
    args = p.parse_args()
    if not args.path.exists():
        t = time.perf_counter()
        write_synthetic(args.path, args.steps, args.shape, args.envs)
        print(f"wrote {args.path} in {time.perf_counter() - t:.0f} s")
    size_mb = args.path.stat().st_size / 2**20
    with open_recording(args.path) as rec:
        num_steps = rec.num_steps
    r = asyncio.run(drive(args.path, args.play))
    print(
        f"{'file':<20} {'steps':>8} {'MB':>5} {'open s':>7} {'steps/s':>8} {'frames/s':>9}"
        f" {'p95 gap ms':>11} {'max gap ms':>11} {'episode ms':>10} {'RSS open/end MB':>16}"
    )
    print(
        f"{args.path.name:<20} {num_steps:>8} {size_mb:>5.0f} {r['open_s']:>7.2f}"
        f" {r['steps_per_s']:>8.1f} {r['frames_per_s']:>9.1f} {r['p95_gap_ms']:>11.1f}"
        f" {r['max_gap_ms']:>11.1f} {r['switch_ms']:>10.0f}"
        f" {r['rss_open_mb']:>8.0f}/{r['rss_end_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
