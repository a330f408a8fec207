"""Which OpenGL backend MuJoCo's renderer uses: chosen for headless machines before MuJoCo loads.

MuJoCo reads ``MUJOCO_GL`` once, when ``import mujoco`` runs, and picks its OpenGL context
from it (GLFW when unset, which needs a display). On a machine without a display jacwrap
sets ``MUJOCO_GL=egl`` when EGL and a vendor library are installed, else ``osmesa`` when
OSMesa (software) is, from :func:`configure_gl`, which ``import jacwrap`` calls before any
jacwrap module imports MuJoCo. A ``MUJOCO_GL`` you set yourself is always kept; with a
display (``DISPLAY`` or ``WAYLAND_DISPLAY``) MuJoCo's own default stays.

Where no backend is installed, rendering raises
:class:`jacwrap.render.RendererUnavailableError` whose message is :func:`missing_message`
(the Debian packages to install). ``python jacwrap/render/gl.py`` prints the backend this
machine would use (with ``-v``), or what to install (``just setup`` runs it). This module only uses the
standard library, so that check needs neither jacwrap nor MuJoCo.
"""

from __future__ import annotations

import ctypes.util
import glob
import os
import platform
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: Backends jacwrap chooses from on a headless machine, in order of preference.
HEADLESS_BACKENDS: tuple[str, ...] = ("egl", "osmesa")

#: Debian/Ubuntu packages that provide each backend (EGL with Mesa's software or GPU drivers).
DEBIAN_PACKAGES: dict[str, tuple[str, ...]] = {
    "egl": ("libegl1", "libegl-mesa0", "libgl1", "libgl1-mesa-dri"),
    "osmesa": ("libosmesa6",),
}

#: The one line that installs both backends (also in .ci/run and the README).
INSTALL_COMMAND = "apt-get install -y libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libosmesa6"

#: Where libglvnd looks for EGL vendor files (an EGL loader without one cannot make a context).
EGL_VENDOR_DIRS: tuple[str, ...] = (
    "/usr/share/glvnd/egl_vendor.d",
    "/etc/glvnd/egl_vendor.d",
    "/usr/local/share/glvnd/egl_vendor.d",
)


@dataclass(frozen=True)
class GLChoice:
    """The backend in effect for this process and why (``backend`` None: MuJoCo's default)."""

    backend: str | None
    reason: str


def _has_egl_vendor(environ: Mapping[str, str]) -> bool:
    if environ.get("__EGL_VENDOR_LIBRARY_FILENAMES") or environ.get("__EGL_VENDOR_LIBRARY_DIRS"):
        return True
    return any(glob.glob(os.path.join(d, "*.json")) for d in EGL_VENDOR_DIRS)


def available_backends(
    find: Callable[[str], str | None] = ctypes.util.find_library,
    has_egl_vendor: Callable[[], bool] = lambda: _has_egl_vendor(os.environ),
) -> list[str]:
    """Headless backends whose system libraries are installed, in order of preference.

    EGL needs ``libEGL`` with a vendor library (Mesa's or NVIDIA's) and ``libOpenGL`` or
    ``libGL``; OSMesa needs ``libOSMesa``. ``find`` is :func:`ctypes.util.find_library`.
    """
    out = []
    if find("EGL") and (find("OpenGL") or find("GL")) and has_egl_vendor():
        out.append("egl")
    if find("OSMesa"):
        out.append("osmesa")
    return out


def choose_backend(
    environ: Mapping[str, str], system: str, available: Callable[[], list[str]]
) -> GLChoice:
    """The backend for a process with environment ``environ`` on OS ``system`` (pure)."""
    user = environ.get("MUJOCO_GL", "").strip()
    if user:
        return GLChoice(user.lower(), "MUJOCO_GL set by the user")
    if system != "Linux":
        return GLChoice(None, f"{system}: MuJoCo's default context")
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return GLChoice(None, "a display is attached: MuJoCo's default (GLFW)")
    found = available()
    if found:
        return GLChoice(found[0], f"headless: {found[0]} chosen from installed {found}")
    return GLChoice(None, "headless and neither EGL nor OSMesa is installed")


_choice: GLChoice | None = None

IMPORTED_FIRST = "mujoco was imported before jacwrap, with MUJOCO_GL unset"


def configure_gl(environ=os.environ) -> GLChoice:
    """Set ``MUJOCO_GL`` for a headless machine unless set or MuJoCo is loaded (idempotent).

    Returns the :class:`GLChoice` in effect. Called by ``import jacwrap``; when MuJoCo was
    imported before jacwrap, its choice stands (say ``MUJOCO_GL=egl`` yourself, or import
    jacwrap first).
    """
    global _choice
    if _choice is not None:
        return _choice
    if "mujoco" in sys.modules and not environ.get("MUJOCO_GL"):
        _choice = GLChoice(None, IMPORTED_FIRST)
        return _choice
    _choice = choose_backend(environ, platform.system(), available_backends)
    if _choice.backend is not None and not environ.get("MUJOCO_GL"):
        environ["MUJOCO_GL"] = _choice.backend
    return _choice


def current_choice() -> GLChoice:
    """The :class:`GLChoice` of this process (runs :func:`configure_gl` if it has not run)."""
    return _choice if _choice is not None else configure_gl()


def missing_message(cause: str = "") -> str:
    """What to install (and what went wrong) when no OpenGL context can be made."""
    choice = current_choice()
    lines = [
        "cannot render: MuJoCo found no working OpenGL backend" + (f" ({cause})" if cause else ""),
        f"backend: {choice.backend or 'MuJoCo default (GLFW)'} ({choice.reason})",
        f"install EGL or OSMesa (Debian/Ubuntu, as root): {INSTALL_COMMAND}",
        "or set MUJOCO_GL=egl / MUJOCO_GL=osmesa before starting Python (see README: Rendering)",
    ]
    if choice.reason == IMPORTED_FIRST:
        lines.append("(or import jacwrap before mujoco, so that it can choose the backend)")
    return "\n".join(lines)


def setup_hint() -> str | None:
    """A line for ``just setup``: what to install on a headless machine, or None if nothing."""
    choice = choose_backend(os.environ, platform.system(), available_backends)
    if choice.backend is not None or platform.system() != "Linux":
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "rendering (env.render, jacwrap render, the replay app's robot view) needs EGL or "
        f"OSMesa; install them with: sudo {INSTALL_COMMAND}"
    )


if __name__ == "__main__":  # `just setup`: standard library only, no jacwrap import
    hint = setup_hint()
    if hint:
        print(hint)
    elif "-v" in sys.argv[1:]:
        c = choose_backend(os.environ, platform.system(), available_backends)
        print(f"rendering: {c.backend or 'MuJoCo default'} ({c.reason})")
