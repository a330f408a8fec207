"""Typed errors raised by jacwrap."""

from __future__ import annotations


class JacwrapError(Exception):
    """Base class of every error jacwrap raises on purpose."""


class UnknownEnvError(JacwrapError, KeyError):
    """An environment name that jacwrap cannot build; the message lists the valid names."""

    def __init__(self, name: str, valid: list[str]):
        self.name = name
        self.valid = list(valid)
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown environment {self.name!r}; valid names: {', '.join(self.valid)}"


class UnsupportedEnvError(JacwrapError, ValueError):
    """A Playground environment whose state is not (qpos, qvel) in a tangent space."""


class ActionError(JacwrapError, ValueError):
    """An action of the wrong shape or dtype; the message names the expected shape."""
