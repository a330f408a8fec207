"""Messages that the app's worker threads post back to the UI thread."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from .episode import EpisodeView


class RecordingOpened(Message):
    """The file's header and index were read."""

    def __init__(self, source: Any) -> None:
        super().__init__()
        self.source = source


class OpenFailed(Message):
    """The file could not be opened; ``message`` is the library's (or the OS's) text."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


class EpisodeLoaded(Message):
    """An episode's series and run statistics are ready; show step ``t`` of it."""

    def __init__(self, view: EpisodeView, t: int) -> None:
        super().__init__()
        self.view = view
        self.t = t


class BlockLoaded(Message):
    """A block of Jacobian values is in the cache."""

    def __init__(self, block: int) -> None:
        super().__init__()
        self.block = block


class ReadFailed(Message):
    """Reading part of an opened file failed (corrupt or truncated chunk)."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


class FitsFound(Message):
    """MLP-fit summaries next to the recording (possibly none)."""

    def __init__(self, summaries: list[Any]) -> None:
        super().__init__()
        self.summaries = summaries


class RobotFrame(Message):
    """The robot view's frame of step ``t``, as half-block lines (``textual.strip.Strip``)."""

    def __init__(self, t: int, lines: list[Any]) -> None:
        super().__init__()
        self.t = t
        self.lines = lines


class RobotUnavailable(Message):
    """The robot view cannot render (no OpenGL backend, unknown task); ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


def describe_error(exc: BaseException) -> str:
    """A one-paragraph message for a failure, without a traceback.

    jacwrap's own errors already name the file and the problem; OS errors get their file
    name and reason; anything else its type and text.
    """
    from jacwrap.errors import JacwrapError

    if isinstance(exc, JacwrapError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return f"{type(exc).__name__}: {exc}"
