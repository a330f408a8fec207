"""Typed errors of :mod:`jacwrap.data` (export, datasets, scoring); each says what to do."""

from __future__ import annotations

from jacwrap import _extras
from jacwrap.errors import JacwrapError


class DataError(JacwrapError, ValueError):
    """Recordings that cannot be exported or loaded together (the message names them)."""


class ExportExistsError(DataError, FileExistsError):
    """The export's destination exists already (pass ``overwrite=True`` / ``--overwrite``)."""


class MissingExtraError(DataError, _extras.MissingExtraError):
    """A package of an optional extra is not installed; the message names the extra."""


class ModelError(DataError):
    """A model that cannot be scored: not found, wrong signature or output shape."""


def require(module: str, extra: str = "export"):
    """Import ``module`` or raise :class:`MissingExtraError` naming ``jacwrap[extra]``."""
    return _extras.require(extra, module, error=MissingExtraError)
