"""Seek prompt: a step number or a percentage of the episode."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ..playback import SeekError, parse_seek


class SeekScreen(ModalScreen[int | None]):
    """Ask for a target; returns the step, or ``None`` on escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, length: int) -> None:
        super().__init__()
        self._length = length

    def compose(self) -> ComposeResult:
        with Vertical(id="seek-box"):
            yield Static(
                f"Go to step 0..{self._length - 1}, or a percentage (e.g. 50%)", classes="title"
            )
            yield Input(placeholder="37 or 50%", id="seek-input")
            yield Static("", id="seek-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            step = parse_seek(event.value, self._length)
        except SeekError as exc:
            self.query_one("#seek-error", Static).update(str(exc))
            return
        self.dismiss(step)

    def action_cancel(self) -> None:
        self.dismiss(None)
