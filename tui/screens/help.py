"""Help screen: every key of the replay app, generated from its bindings."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "jacwrap replay: the exact Jacobians J_s = ∂s'/∂s and J_a = ∂s'/∂a of each recorded step. "
    "Heatmap rows are next-state variables, columns current state (p=qpos, v=qvel) then action "
    "(a) variables; · marks a zero (|J| below the recording's threshold), colours log10|J|."
)


#: How key names read in the help screen.
KEY_NAMES = {"question_mark": "?", "plus": "+", "equals_sign": "=", "minus": "-"}


def key_names(key: str) -> str:
    """``"plus,equals_sign"`` -> ``"+ ="``: a binding's keys as a person types them."""
    return " ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in key.split(","))


def keys_table(bindings: list[Binding]) -> Table:
    """A two-column table (keys, what they do) of ``bindings`` that have a description."""
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column(style="bold color(226)", no_wrap=True)
    table.add_column()
    for b in bindings:
        if not b.description:
            continue
        table.add_row(key_names(b.key), b.tooltip or b.description)
    return table


class HelpScreen(ModalScreen[None]):
    """Lists every key; any of escape, ?, q closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", key_display="esc")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.key_bindings = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("Keys", classes="title")
            yield Static(keys_table(self.key_bindings), id="help-keys")
            yield Static(INTRO, id="help-intro")

    async def action_dismiss(self, result=None) -> None:
        self.dismiss(None)
