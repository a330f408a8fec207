"""Videos of an episode's states with its sparsity underneath (``jacwrap render``).

Each frame is MuJoCo's image of the state s_t (the state the step's Jacobians are taken
at) above the episode's sparsity strip with step t marked (:mod:`jacwrap.render.strip`).
Videos are written by imageio: MP4 (H.264) through its ffmpeg plugin (imageio-ffmpeg
ships the ffmpeg binary), GIF through Pillow.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from jacwrap.render.errors import RenderError
from jacwrap.render.frames import StateRenderer
from jacwrap.render.strip import SparsityStrip, sparsity_strip, strip_height

#: Video formats by file suffix.
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".gif")

#: Default video rate, frames (= steps) per second; the task's real time is 1 / ctrl_dt.
DEFAULT_FPS = 30.0


def task_model(name: str, nq: int | None = None, nv: int | None = None) -> Any:
    """The ``mj_model`` of registered task ``name``, checked against a recording's nq, nv.

    Raises :class:`jacwrap.UnknownEnvError` for a name jacwrap cannot build (e.g. a
    recording of your own Playground env: render it with :class:`StateRenderer` and its
    model) and :class:`RenderError` when the dimensions differ.
    """
    from jacwrap.envs import load_playground

    model = load_playground(name).mj_model
    if (nq, nv) != (None, None) and (model.nq, model.nv) != (nq, nv):
        raise RenderError(
            f"{name}: the recording has nq={nq}, nv={nv} but the task's model has "
            f"nq={model.nq}, nv={model.nv}; it was recorded from another model"
        )
    return model


def compose(frame: np.ndarray, strip: np.ndarray) -> np.ndarray:
    """``frame`` above ``strip`` (same width), padded to even sides for H.264's 4:2:0."""
    out = np.concatenate([frame, strip], axis=0)
    pad_h, pad_w = out.shape[0] % 2, out.shape[1] % 2
    if pad_h or pad_w:
        out = np.pad(out, ((0, pad_h), (0, pad_w), (0, 0)))
    return out


def episode_frames(
    renderer: StateRenderer, states: np.ndarray, strip: SparsityStrip
) -> Iterator[np.ndarray]:
    """One composed frame per step: the state's image above the strip with the step marked."""
    for t, s in enumerate(states):
        yield compose(renderer.render(s), strip.at(t))


def check_video_path(path: str | Path, overwrite: bool = False) -> Path:
    """Validate an output path: a known suffix, and no existing file unless ``overwrite``."""
    out = Path(path)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise RenderError(f"{out}: the video must end in one of {', '.join(VIDEO_SUFFIXES)}")
    if out.exists() and not overwrite:
        raise RenderError(f"{out} exists; pass --overwrite to replace it")
    return out


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> int:
    """Write ``frames`` (H, W, 3) uint8 to ``path`` (.mp4 or .gif); returns the frame count.

    MP4 frames stream to ffmpeg (constant memory); a GIF is assembled in memory by Pillow
    (about H*W bytes a frame), so prefer MP4 for long episodes.
    """
    import imageio.v2 as imageio

    out = Path(path)
    if not fps > 0:
        raise RenderError(f"fps must be > 0, got {fps}")
    if out.suffix.lower() == ".gif":
        writer = imageio.get_writer(out, mode="I", duration=1000.0 / fps, loop=0)
    else:
        writer = imageio.get_writer(
            out,
            format="FFMPEG",
            mode="I",
            fps=fps,
            codec="libx264",
            pixelformat="yuv420p",
            macro_block_size=2,
            ffmpeg_log_level="error",
        )
    count = 0
    with warnings.catch_warnings(), writer:
        # ffmpeg is started with fork + exec, no Python runs in the child: JAX's warning
        # about forking a multithreaded process does not apply.
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        for frame in frames:
            writer.append_data(frame)
            count += 1
    return count


def render_states_video(
    model: Any,
    states: np.ndarray,
    sparsity: np.ndarray,
    out: str | Path,
    *,
    fps: float = DEFAULT_FPS,
    width: int = 320,
    height: int = 240,
    camera: int | str | None = None,
    shadows: bool = True,
    progress: Callable[[Iterable[np.ndarray], int], Iterable[np.ndarray]] | None = None,
) -> int:
    """Render an episode's ``states`` (T, n) with its ``sparsity`` (T, 3) to a video file.

    ``shadows=False`` drops shadows and floor reflections (about 3x faster without a GPU).
    ``progress(frames, total)`` may wrap the frame iterator (e.g. ``tqdm``). Returns the
    number of frames written (T).
    """
    states = np.asarray(states)
    if states.ndim != 2 or states.shape[0] != np.shape(sparsity)[0]:
        raise RenderError(
            f"states {states.shape} and sparsity {np.shape(sparsity)} must have one row a step"
        )
    strip = sparsity_strip(sparsity, width, strip_height(width))
    with StateRenderer(
        model,
        width=width,
        height=height,
        camera=camera,
        shadows=shadows,
        reflections=shadows,
    ) as renderer:
        frames: Iterable[np.ndarray] = episode_frames(renderer, states, strip)
        if progress is not None:
            frames = progress(frames, states.shape[0])
        return write_video(out, frames, fps)
