"""Help screen: every key of the replay app, generated from its bindings."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "The heatmap is [J_s | J_a] of the current step: J_s = ∂s'/∂s, J_a = ∂s'/∂a. Rows are "
    "next-state variables, columns current state (p = qpos, v = qvel) then action (a) "
    "variables. · is a zero (|J| below the recording's threshold); colours are log10|J|. "
    "Runs are in steps; runs lasting the whole episode are not counted. Bars: the step's "
    "sparsity (share of zeros)."
)


#: How key names read in the help screen.
KEY_NAMES = {"question_mark": "?", "plus": "+", "equals_sign": "=", "minus": "-"}


def key_names(key: str) -> str:
    """``"plus,equals_sign"`` -> ``"+ ="``: a binding's keys as a person types them."""
    return " ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in key.split(","))


def keys_table(bindings: list[Binding], columns: int = 2) -> Table:
    """A table of (keys, what they do) for ``bindings`` that have a description.

    The pairs fill ``columns`` side-by-side column pairs, top to bottom then left to right.
    """
    rows = [(key_names(b.key), b.tooltip or b.description) for b in bindings if b.description]
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    for _ in range(columns):
        table.add_column(style="bold color(226)", no_wrap=True)
        table.add_column(ratio=1)
    height = -(-len(rows) // columns)
    for i in range(height):
        cells: list[str] = []
        for c in range(columns):
            k = c * height + i
            cells.extend(rows[k] if k < len(rows) else ("", ""))
        table.add_row(*cells)
    return table


def key_rows(table: Table) -> list[tuple[str, str]]:
    """The (keys, description) pairs of a :func:`keys_table`, in binding order."""
    pairs = []
    for c in range(0, len(table.columns), 2):
        keys, descs = table.columns[c].cells, table.columns[c + 1].cells
        pairs.extend((str(k), str(d)) for k, d in zip(keys, descs, strict=True) if str(d))
    return pairs


class HelpScreen(ModalScreen[None]):
    """Lists every key; any of escape, ?, q closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", key_display="esc")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.key_bindings = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("jacwrap replay: keys (esc closes)", classes="title")
            yield Static(keys_table(self.key_bindings), id="help-keys")
            yield Static(INTRO, id="help-intro")

    async def action_dismiss(self, result=None) -> None:
        self.dismiss(None)
