"""Typed errors of the recording reader and writer; each names the file and what is wrong."""

from __future__ import annotations

from jacwrap.errors import JacwrapError


class RecordingError(JacwrapError):
    """Base class of every error about a recording file (the message names the file)."""


class RecordingNotFoundError(RecordingError, FileNotFoundError):
    """No file at the given path."""


class NotARecordingError(RecordingError, ValueError):
    """The file is not a jacwrap recording (wrong magic bytes, or an unreadable header)."""


class UnsupportedVersionError(RecordingError, ValueError):
    """The recording was written in a format version this reader does not know."""


class ChecksumError(RecordingError, ValueError):
    """A checksum does not match: the header, a chunk (named by index and offset) or the index."""


class TruncatedError(RecordingError, EOFError):
    """The file ends before a part that must be there (the header, or a chunk the index lists)."""


class RecordingExistsError(RecordingError, FileExistsError):
    """Refusing to overwrite an existing recording (pass ``overwrite=True`` to replace it)."""
