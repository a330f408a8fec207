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


class LimitError(RecordingError, ValueError):
    """A size or count is outside the format's limits (docs/FORMAT.md, "Limits").

    The reader raises it before allocating anything of that size; the writer raises it
    instead of writing what the reader would refuse. The message names the file, the part,
    the value and the limit; ``part``, ``value`` and ``limit`` hold them too.
    """

    def __init__(self, message: str, *, part: str = "", value: object = None, limit=None):
        super().__init__(message)
        self.part, self.value, self.limit = part, value, limit


def over_limit(path: object, part: str, what: str, value: object, limit: object) -> LimitError:
    """``LimitError`` for ``what`` (in ``part`` of file ``path``) being ``value``, past ``limit``
    (``limit`` is written as the allowed range, e.g. ``"1..1024"`` or ``"<= 1048576"``)."""
    return LimitError(
        f"{path}: {part}: {what} is {value}, outside the format's limit {limit} "
        "(docs/FORMAT.md, Limits)",
        part=part,
        value=value,
        limit=limit,
    )
