"""The current step's contacts: which candidate pairs touch, and how many contacts and
constraint rows the solver had (the recording's contact fields, format version 2)."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.widgets import Static

NO_DATA = "no contact data in this recording"


def render_contacts(
    pairs: tuple[str, ...] | None,
    contacts: np.ndarray | None,
    n_contacts: int | None,
    n_constraints: int | None,
    width: int,
) -> Text:
    """Two lines: the pairs in contact during the step (labels), then the counts.

    ``contacts`` is the step's (P,) union mask over its substeps; None (a version 1 file,
    or one recorded without contacts) shows :data:`NO_DATA`.
    """
    out = Text(no_wrap=True, overflow="ellipsis")
    if contacts is None or pairs is None:
        return out.append(NO_DATA, "italic dim")
    touching = [pairs[j] for j in np.flatnonzero(contacts)]
    if touching:
        shown = ", ".join(touching)
        if len(shown) > width:
            shown = shown[: max(0, width - 1)] + "…"
        out.append(shown, "color(214)")
    else:
        out.append("no contact", "dim")
    out.append("\n")
    out.append(f"{len(touching)}/{len(pairs)} pairs · {n_contacts} contacts · ")
    out.append(f"{n_constraints} rows")
    return out


class ContactsPanel(Static):
    """Contact pairs of the current step."""
