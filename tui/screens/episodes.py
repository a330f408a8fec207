"""Episode picker: a list of the recording's episodes; enter opens one."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


def episode_line(info: Any) -> str:
    """One line describing an ``EpisodeInfo``."""
    flag = "" if info.complete else "  (incomplete)"
    return (
        f"ep {info.index:>4}  env {info.env_index:>3}  {info.length:>6} steps"
        f"  return {info.ret:>9.3f}{flag}"
    )


class EpisodePicker(ModalScreen[int | None]):
    """Choose an episode (returns its index, or ``None`` on escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, episodes: list[Any], current: int) -> None:
        super().__init__()
        self._episodes = episodes
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Static(
                f"Episodes ({len(self._episodes)}): ↑↓ choose, enter open", classes="title"
            )
            yield OptionList(
                *(Option(episode_line(e), id=str(e.index)) for e in self._episodes),
                id="episodes",
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = self._current
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
