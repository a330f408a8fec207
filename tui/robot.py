"""The robot view's renderer, shared by the app's worker threads.

Holds one :class:`jacwrap.render.StateRenderer` for the recording's task, made on the
first frame (loading the task's model imports MuJoCo Playground: seconds) and made again
when the panel changes size. A lock serialises frames: one OpenGL context, one thread at
a time (the renderer unbinds its context after each frame, so any worker thread may be
next). Rendering itself is :mod:`jacwrap.render`'s.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RobotRequest:
    """A frame the app wants: step ``t``'s state ``s`` at ``width`` x ``height`` pixels."""

    t: int
    state: np.ndarray
    width: int
    height: int


class RobotRenderer:
    """Frames of one recording's task at its recorded states (safe to call from any thread)."""

    def __init__(self, env_name: str, nq: int, nv: int):
        self.env_name = env_name
        self.nq, self.nv = nq, nv
        self._lock = threading.Lock()
        self._model: Any = None
        self._renderer: Any = None
        self._size: tuple[int, int] | None = None

    def render(self, request: RobotRequest) -> np.ndarray:
        """The (height, width, 3) uint8 frame of ``request`` (raises the library's errors).

        The size is clamped to the model's offscreen buffer (640x480 for DM Control).
        """
        from jacwrap.render import StateRenderer
        from jacwrap.render.video import task_model

        with self._lock:
            if self._model is None:
                self._model = task_model(self.env_name, self.nq, self.nv)
            limit = self._model.vis.global_
            size = (min(request.width, limit.offwidth), min(request.height, limit.offheight))
            if self._renderer is None or self._size != size:
                self._close_renderer()
                # no shadows or reflections: a few dozen character cells cannot show them,
                # and without a GPU the shadow map is most of a frame's cost
                self._renderer = StateRenderer(
                    self._model, width=size[0], height=size[1], shadows=False, reflections=False
                )
                self._size = size
            return self._renderer.render(request.state)

    def _close_renderer(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def close(self) -> None:
        """Free the OpenGL context (waits for a frame in progress)."""
        with self._lock:
            self._close_renderer()


def unavailable_message(exc: BaseException, env_name: str) -> str:
    """What the robot view says instead of a frame, for the error ``exc``."""
    from jacwrap.errors import UnknownEnvError

    from .messages import describe_error

    if isinstance(exc, UnknownEnvError):
        return (
            f"No robot view: {env_name!r} is not a jacwrap task, so its model cannot be "
            "rebuilt (render it with jacwrap.render.StateRenderer and your model)."
        )
    return f"No robot view. {describe_error(exc)}"
