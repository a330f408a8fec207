"""Frames of a MuJoCo model at a state vector s = concat(qpos, qvel), with MuJoCo's renderer.

:class:`StateRenderer` fills its own ``MjData`` from s, runs ``mj_forward`` (positions,
tracking cameras, lights) and renders with ``mujoco.Renderer``. It knows nothing of the
adapters or recordings: anything that has a state vector and the env's ``mj_model`` can
use it. Parts of the scene that are not in s (e.g. ReacherHard's target, a mocap body)
are drawn where the model puts them by default.
"""

from __future__ import annotations

import contextlib
import os
import sys
import weakref
from typing import Any

import numpy as np

from jacwrap.render.errors import RenderError, RendererUnavailableError
from jacwrap.render.gl import configure_gl, missing_message

#: Gymnasium render modes a jacwrap env accepts (besides ``None``).
RENDER_MODES: tuple[str, ...] = ("rgb_array", "depth_array")

#: Default frame size (Playground's and DM Control's 320x240).
DEFAULT_WIDTH = 320
DEFAULT_HEIGHT = 240


def camera_names(model: Any) -> list[str]:
    """Names of the model's cameras, in id order (``""`` for an unnamed one)."""
    import mujoco

    return [
        mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, i) or "" for i in range(model.ncam)
    ]


def resolve_camera(model: Any, camera: int | str | None) -> int:
    """Camera id for ``camera``: a name, an id, -1 or ``"free"`` (the free camera), or None.

    None is the task's own first camera (DM Control tasks define one that frames the
    robot, e.g. CheetahRun's tracking ``side``), or the free camera if it has none.
    """
    import mujoco

    names = camera_names(model)
    choices = f"the model's cameras: {names or 'none'}, or 'free' / -1 (free camera)"
    if camera is None:
        return 0 if model.ncam else -1
    if isinstance(camera, str):
        if camera == "free":
            return -1
        cid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        if cid < 0:
            raise RenderError(f"unknown camera {camera!r}; {choices}")
        return int(cid)
    if isinstance(camera, int | np.integer) and -1 <= int(camera) < model.ncam:
        return int(camera)
    raise RenderError(f"camera must be a name or an id; got {camera!r}; {choices}")


def check_size(model: Any, width: int, height: int) -> tuple[int, int]:
    """Validate a frame size against the model's offscreen buffer; returns (width, height)."""
    limit_w, limit_h = int(model.vis.global_.offwidth), int(model.vis.global_.offheight)
    for what, value, limit in (("width", width, limit_w), ("height", height, limit_h)):
        if not isinstance(value, int | np.integer) or not 1 <= int(value) <= limit:
            raise RenderError(
                f"{what} must be an integer in 1..{limit} (the model's offscreen buffer is "
                f"{limit_w}x{limit_h}); got {value!r}"
            )
    return int(width), int(height)


def release_current_context() -> None:
    """Unbind this thread's OpenGL context, so that another thread may render with it next.

    ``mujoco.Renderer.render`` binds its context to the calling thread and leaves it bound;
    an EGL or GLFW context bound to one thread (even one that has ended) cannot be bound by
    another (``EGL_BAD_ACCESS``). OSMesa needs nothing.
    """
    backend = os.environ.get("MUJOCO_GL", "").lower()
    if backend == "egl":
        from OpenGL import EGL

        if EGL.eglGetCurrentContext():
            EGL.eglMakeCurrent(
                EGL.eglGetCurrentDisplay(),
                EGL.EGL_NO_SURFACE,
                EGL.EGL_NO_SURFACE,
                EGL.EGL_NO_CONTEXT,
            )
    elif backend in ("glfw", "glx") or (backend == "" and sys.platform.startswith("linux")):
        import glfw

        glfw.make_context_current(None)


def _close(renderer: Any) -> None:
    with contextlib.suppress(Exception):  # at interpreter exit the GL library may be gone
        renderer.close()


class StateRenderer:
    """Renders ``model`` at state vectors s (one GL context; use it from one thread at a time).

    Args:
        model: the env's ``mujoco.MjModel`` (``playground_env.mj_model``); never modified.
        width, height: frame size in pixels (default 320x240).
        camera: camera name or id, ``"free"``/-1, or None for the task's camera
            (:func:`resolve_camera`).
        depth: render depth in metres, (H, W) float32, instead of RGB (H, W, 3) uint8.
        shadows, reflections: MuJoCo's shadows and floor reflections (default on, as in
            Playground's own frames). Without a GPU they are most of a frame's cost: the
            2048x2048 shadow map is drawn whatever the frame size (BENCHMARKS.md), so a
            small preview should turn them off.

    Raises :class:`RenderError` for a bad option and :class:`RendererUnavailableError`
    (naming the packages to install) when no OpenGL context can be made.
    """

    def __init__(
        self,
        model: Any,
        *,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        camera: int | str | None = None,
        depth: bool = False,
        shadows: bool = True,
        reflections: bool = True,
    ):
        configure_gl()  # no-op after `import jacwrap`; here for direct imports of this module
        import mujoco

        self.model = model
        self.width, self.height = check_size(model, width, height)
        self.camera = resolve_camera(model, camera)
        self.depth = bool(depth)
        self.shadows, self.reflections = bool(shadows), bool(reflections)
        self.n = int(model.nq + model.nv)
        self._data = mujoco.MjData(model)
        self._renderer: Any = None
        try:
            self._renderer = mujoco.Renderer(model, height=self.height, width=self.width)
        except Exception as exc:  # ImportError, mujoco.FatalError, EGL/OSMesa errors
            raise RendererUnavailableError(missing_message(f"{type(exc).__name__}: {exc}")) from exc
        release_current_context()  # the constructor bound it to this thread
        if self.depth:
            self._renderer.enable_depth_rendering()
        self._finalizer = weakref.finalize(self, _close, self._renderer)

    def render(self, state: Any) -> np.ndarray:
        """The frame at state ``s`` (n,): (H, W, 3) uint8, or (H, W) float32 with ``depth``.

        A non-finite state (a blow-up) gives a black frame (zeros).
        """
        import mujoco

        s = np.asarray(state, dtype=np.float64)
        if s.shape != (self.n,):
            raise RenderError(f"expected a state vector of shape ({self.n},), got {s.shape}")
        if self._renderer is None:
            raise RenderError("this StateRenderer is closed")
        if not np.isfinite(s).all():
            shape = (self.height, self.width) if self.depth else (self.height, self.width, 3)
            return np.zeros(shape, np.float32 if self.depth else np.uint8)
        nq = self.model.nq
        self._data.qpos[:] = s[:nq]
        self._data.qvel[:] = s[nq:]
        mujoco.mj_forward(self.model, self._data)
        self._renderer.update_scene(self._data, camera=self.camera)
        flags = self._renderer.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.shadows
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = self.reflections
        try:
            return self._renderer.render()
        finally:
            release_current_context()

    def close(self) -> None:
        """Free the GL context (idempotent)."""
        if self._renderer is not None:
            self._finalizer()
            self._renderer = None

    def __enter__(self) -> StateRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_render_mode(mode: str | None) -> str | None:
    """Validate a Gymnasium ``render_mode``: None or one of :data:`RENDER_MODES`."""
    if mode is not None and mode not in RENDER_MODES:
        raise RenderError(f"render_mode must be None or one of {list(RENDER_MODES)}; got {mode!r}")
    return mode


class LazyRenderer:
    """A :class:`StateRenderer` whose options are checked now and GL context made on first use.

    What the Gymnasium and SB3 adapters hold: building an env with a ``render_mode`` costs
    nothing and works without OpenGL; only the first frame needs a backend.
    """

    def __init__(
        self,
        model: Any,
        mode: str | None,
        *,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        camera: int | str | None = None,
    ):
        self.model = model
        self.mode = check_render_mode(mode)
        self.width, self.height = check_size(model, width, height)
        self.camera = camera
        resolve_camera(model, camera)  # a bad camera fails at construction, not at render
        self._renderer: StateRenderer | None = None

    def render(self, state: Any) -> np.ndarray:
        """The frame of ``state`` in this renderer's mode (see :meth:`StateRenderer.render`)."""
        if self.mode is None:
            raise RenderError("no render_mode was given, so there is nothing to render")
        if self._renderer is None:
            self._renderer = StateRenderer(
                self.model,
                width=self.width,
                height=self.height,
                camera=self.camera,
                depth=self.mode == "depth_array",
            )
        return self._renderer.render(state)

    def close(self) -> None:
        """Free the GL context if one was made (idempotent)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
