"""Command-line options from a dataclass: every field a ``--kebab-case`` option (CleanRL style)."""

from __future__ import annotations

import argparse
import dataclasses


def parse_dataclass(cls, argv: list[str] | None, description: str = ""):
    """Parse ``argv`` into ``cls``; booleans are ``--flag`` / ``--no-flag``, lists take ints."""
    p = argparse.ArgumentParser(description=description)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, list):
            p.add_argument(flag, type=int, nargs="+", default=default)
        else:
            p.add_argument(flag, type=type(default), default=default)
    return cls(**vars(p.parse_args(argv)))
