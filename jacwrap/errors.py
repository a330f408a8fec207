"""Typed errors raised by jacwrap."""

from __future__ import annotations


class JacwrapError(Exception):
    """Base class of every error jacwrap raises on purpose."""


class UnknownEnvError(JacwrapError, KeyError):
    """An environment name that jacwrap cannot build; the message lists the valid names."""

    def __init__(self, name: str, valid: list[str]):
        self.name = name
        self.valid = list(valid)
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown environment {self.name!r}; valid names: {', '.join(self.valid)}"


class UnsupportedEnvError(JacwrapError, ValueError):
    """A Playground environment whose state is not (qpos, qvel) in a tangent space."""


class ActionError(JacwrapError, ValueError):
    """An action of the wrong shape or dtype; the message names the expected shape."""


class NoContactDataError(JacwrapError, LookupError):
    """A contact analysis was asked of a recording that holds no contact data: one written
    before format version 2, or without contacts (docs/FORMAT.md). ``path`` is the file.

    A LookupError, not a :class:`jacwrap.recording.errors.RecordingError`: the file is
    sound, and every analysis that does not need contacts still runs on it.
    """

    def __init__(self, path: object):
        self.path = path
        super().__init__(
            "no contact data in this recording (recorded before format version 2, or "
            f"without contacts): {path}"
        )


def require_contacts(steps_or_header: object, path: object) -> None:
    """Raise :class:`NoContactDataError` naming ``path`` unless ``steps_or_header`` (a
    recording's header, or :class:`~jacwrap.recording.Steps` read from it) has contact data:
    a header's ``contact_pairs`` is not None, or the steps' ``contacts`` are there (an
    object with a ``header``, as an open recording, is judged by its header)."""
    steps_or_header = getattr(steps_or_header, "header", steps_or_header)
    if hasattr(steps_or_header, "contact_pairs"):
        present = steps_or_header.contact_pairs is not None
    else:
        present = getattr(steps_or_header, "contacts", None) is not None
    if not present:
        raise NoContactDataError(path)
