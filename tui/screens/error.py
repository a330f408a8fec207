"""Error screen: the library's message about a file that cannot be (fully) read."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static


class ErrorScreen(ModalScreen[None]):
    """Shows ``message``; escape goes on to what is readable when ``can_continue``."""

    BINDINGS = [
        Binding("q", "app.quit", "Quit"),
        Binding("escape", "go_on", "Replay what is readable"),
    ]

    def __init__(self, title: str, message: str, can_continue: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.can_continue = can_continue

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box"):
            yield Static(self.title_text, classes="title", id="error-title")
            yield Static(self.message, id="error-message", markup=False)
            hint = "escape: replay what is readable · q: quit" if self.can_continue else "q: quit"
            yield Static(hint, id="error-hint")
        yield Footer()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "go_on":
            return self.can_continue
        return True

    def action_go_on(self) -> None:
        if self.can_continue:
            self.dismiss(None)
