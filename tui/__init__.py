"""Terminal replay of jacwrap recordings (Textual). ``python -m tui FILE`` or ``jacwrap replay FILE``.

Library code (decoding, statistics) lives in :mod:`jacwrap`; this package only shows it.
"""

from __future__ import annotations

__all__ = ["ReplayApp", "run"]


def __getattr__(name: str):
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
