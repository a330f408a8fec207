"""Typed errors of :mod:`jacwrap.render`."""

from __future__ import annotations

from jacwrap.errors import JacwrapError


class RenderError(JacwrapError, ValueError):
    """A render option or input that cannot work: mode, size, camera or state shape."""


class RendererUnavailableError(JacwrapError, RuntimeError):
    """No OpenGL context could be made; the message names the system packages to install."""
