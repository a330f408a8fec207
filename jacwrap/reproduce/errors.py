"""Typed errors of ``jacwrap reproduce``; each names what is wrong and what to do."""

from __future__ import annotations

from jacwrap.errors import JacwrapError


class ReproduceError(JacwrapError):
    """Base class of the errors of a reproduction run."""


class RunExistsError(ReproduceError, FileExistsError):
    """The output folder holds another run's manifest and ``--resume`` was not given."""


class ManifestError(ReproduceError, ValueError):
    """A manifest that cannot be read, or that belongs to a run with other settings."""


class MissingPolicyError(ReproduceError, FileNotFoundError):
    """A task's shipped expert policy file (agents/policies/<Task>.zip) is missing."""


class UnitFailedError(ReproduceError, RuntimeError):
    """A unit of work raised; the units finished before it stay recorded in the manifest."""

    def __init__(self, unit_id: str, message: str):
        self.unit_id = unit_id
        super().__init__(
            f"unit {unit_id} failed: {message}; the finished units are kept, "
            "run again with --resume to redo only the unfinished ones"
        )


class ExecutorError(ReproduceError, ValueError):
    """An executor that cannot run (unknown name, Ray not installed or not reachable)."""
