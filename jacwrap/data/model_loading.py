"""Finding a user's model from ``MODULE:ATTRIBUTE`` (the ``jacwrap score --model`` value).

MODULE is a dotted import path (the current directory is searched too) or a ``.py`` file;
ATTRIBUTE a dotted attribute path in it. A path ending in ``.npz`` is a model saved by
``jacwrap fit`` (:class:`jacwrap.fit.DynamicsModel`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from jacwrap.data.errors import ModelError


def load_model(spec: str) -> Any:
    """The object ``spec`` names (see the module docstring); :class:`ModelError` if not found."""
    if spec.endswith(".npz"):
        from jacwrap.fit.model import DynamicsModel

        return DynamicsModel.load(spec)
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ModelError(f"--model {spec!r}: expected MODULE:FUNCTION (or a fit's .npz file)")
    module = _module(module_name, spec)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ModelError(f"--model {spec!r}: {module_name} has no attribute {attr!r}") from None
    if not callable(obj):
        raise ModelError(f"--model {spec!r}: {attr} is not callable (a function or a module)")
    return obj


def _module(name: str, spec: str):
    path = Path(name)
    if name.endswith(".py"):
        if not path.is_file():
            raise ModelError(f"--model {spec!r}: no file {name}")
        mod_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[path.stem] = module
        mod_spec.loader.exec_module(module)
        return module
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise ModelError(f"--model {spec!r}: cannot import {name} ({exc})") from None
