"""Rendering: frames of a state vector with MuJoCo's renderer, and videos of recordings.

>>> from jacwrap.render import StateRenderer
>>> with StateRenderer(env.unwrapped.playground_env.mj_model) as r:   # doctest: +SKIP
...     frame = r.render(info["state"])                              # (240, 320, 3) uint8

Modules: :mod:`~jacwrap.render.gl` (the OpenGL backend, chosen before MuJoCo loads),
:mod:`~jacwrap.render.frames` (:class:`StateRenderer`), :mod:`~jacwrap.render.strip` (the
sparsity strip under video frames), :mod:`~jacwrap.render.video` (``jacwrap render``).
Nothing here imports the adapters; MuJoCo is imported when a renderer is made.
"""

from __future__ import annotations

from jacwrap.render.errors import RenderError, RendererUnavailableError
from jacwrap.render.frames import (
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    RENDER_MODES,
    StateRenderer,
    camera_names,
    resolve_camera,
)
from jacwrap.render.gl import configure_gl, current_choice

__all__ = [
    "DEFAULT_HEIGHT",
    "DEFAULT_WIDTH",
    "RENDER_MODES",
    "RenderError",
    "RendererUnavailableError",
    "StateRenderer",
    "camera_names",
    "configure_gl",
    "current_choice",
    "resolve_camera",
]
