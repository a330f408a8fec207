"""``jacwrap render REC.jwr``: a video of a recorded episode with its sparsity under the frames."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jacwrap.render.video import DEFAULT_FPS


def parse_size(text: str) -> tuple[int, int]:
    """``"320x240"`` -> (320, 240): width x height in pixels."""
    parts = text.lower().split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT, e.g. 320x240; got {text!r}"
        ) from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"width and height must be >= 16; got {text!r}")
    return width, height


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="video of a recorded episode, with its J_s / J_a sparsity under the frames",
        description="Re-render a recorded episode from its states with MuJoCo (the state s_t "
        "of every step, the task's camera) and write an MP4 or GIF with the episode's per-step "
        "sparsity of J_s and J_a drawn under the frames, the current step marked. Needs EGL "
        "or OSMesa on a machine without a display (README: Rendering).",
    )
    p.add_argument("file", metavar="REC.jwr", help="a .jwr recording")
    p.add_argument("--episode", type=int, default=0, metavar="I", help="episode (default 0)")
    p.add_argument(
        "--out",
        metavar="FILE",
        help="output .mp4 or .gif (default: REC-ep<I>.mp4 next to the recording)",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=DEFAULT_FPS,
        help=f"frames (steps) per second of video (default {DEFAULT_FPS:g}; real time is "
        "1/ctrl_dt, 100 for CartpoleBalance)",
    )
    p.add_argument(
        "--camera",
        default=None,
        help="camera name or id, or 'free' (default: the task's first camera)",
    )
    p.add_argument(
        "--size",
        type=parse_size,
        default=(320, 240),
        metavar="WxH",
        help="frame size in pixels, the strip comes below (default 320x240)",
    )
    p.add_argument(
        "--no-shadows",
        action="store_true",
        help="no shadows or floor reflections (about 3x faster without a GPU)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing video")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def default_out(path: str | Path, episode: int) -> Path:
    """``runs/rec.jwr``, episode 3 -> ``runs/rec-ep3.mp4``."""
    p = Path(path)
    return p.with_name(f"{p.stem}-ep{episode}.mp4")


def camera_arg(text: str | None) -> int | str | None:
    """``"0"`` -> 0, ``"-1"`` -> -1, a name stays a name."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def run(args: argparse.Namespace) -> int:
    from jacwrap.recording import open_recording
    from jacwrap.render.errors import RenderError
    from jacwrap.render.video import check_video_path, render_states_video, task_model

    out = check_video_path(args.out or default_out(args.file, args.episode), args.overwrite)
    with open_recording(args.file) as rec:
        if rec.truncated_tail:
            print(f"warning: {rec.truncated_tail}", file=sys.stderr)
        n_eps = len(rec.episodes)
        if not 0 <= args.episode < n_eps:
            raise RenderError(
                f"{args.file}: no episode {args.episode}; the recording has episodes 0..{n_eps - 1}"
            )
        header = rec.header
        chunks = list(rec.iter_chunks(episode=args.episode))
        states = _concat([c.state for c in chunks])
        sparsity = _concat([c.sparsity for c in chunks])
    model = task_model(header.env_name, header.nq, header.nv)
    width, height = args.size
    frames = render_states_video(
        model,
        states,
        sparsity,
        out,
        fps=args.fps,
        width=width,
        height=height,
        camera=camera_arg(args.camera),
        shadows=not args.no_shadows,
        progress=None if args.no_progress else _progress(out.name),
    )
    print(f"{out} ({frames} frames)")
    return 0


def _concat(parts):
    import numpy as np

    return np.concatenate(parts)


def _progress(label: str):
    def wrap(frames, total):
        from tqdm import tqdm

        return tqdm(frames, total=total, desc=label, unit="frame", file=sys.stderr)

    return wrap
