"""Modules that Playground's import loads but stepping never uses, loaded at their first use.

Importing Playground imports, among what jacwrap needs, three things it never runs:
MJX's mesh tools (``mujoco.mjx._src.mesh`` imports trimesh, which imports networkx and
SciPy's optimisers, and ``scipy.spatial``, for the convex hulls that ``mjx.put_model``
builds for mesh geoms; none of jacwrap's tasks has a mesh), jaxopt (imported by Brax's
generalized pipeline, which Playground's wrappers import; it imports
``scipy.optimize``) and ``flax.linen`` (imported by ``flax/__init__``; Playground uses
``flax.struct``). Together they were 0.7 s of a 0.95 s Playground import (0.25 s without,
quiet; BENCHMARKS.md "Warm start"). :func:`deferred_imports` puts stand-ins for them into
``sys.modules`` while Playground is imported; the first attribute looked up on a stand-in
afterwards imports the real module, so a model with meshes still converts
(tests/test_lazy_imports.py).

The stand-ins are not :class:`importlib.util.LazyLoader` modules: on Python 3.11 the
import system reads a module's ``__spec__`` on every ``import`` statement, which makes a
lazy module load at once. And the mesh module names ``trimesh.Trimesh`` in a function
signature, which Python evaluates when it runs the module. So while Playground's import
runs, the names of :data:`DEFERRED` are answered with placeholder classes (they only end up
in that function's ``__annotations__``); every other name, and every name afterwards, comes
from the real module. A module bound to a stand-in (``from flax import linen``) keeps the
stand-in, which forwards every lookup to the real module.

A stand-in of a package also answers for its submodules: it carries the package's
``__path__``, and a finder first in ``sys.meta_path`` (:class:`SubmoduleFinder`) imports the
real package before any of its submodules is imported, so ``from scipy.spatial.transform
import Rotation`` after Playground's import works, and a submodule that the package's own
import loaded is not loaded twice.

A module already imported, or not installed, is left alone.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

#: Module -> the names Playground's import looks up on it but uses only in annotations.
DEFERRED: dict[str, tuple[str, ...]] = {
    "trimesh": ("Trimesh",),
    "scipy.spatial": (),
    "jaxopt": (),
    "flax.linen": (),
}

_LOCK = threading.RLock()


class DeferredModule(types.ModuleType):
    """Stand-in for a module that is imported at the first attribute looked up on it.

    While :attr:`importing` is true (Playground's import runs), the names in
    ``placeholders`` are answered with placeholder classes instead. Once the real module
    is imported it replaces the stand-in in ``sys.modules``, and every lookup on the
    stand-in is forwarded to it.
    """

    importing = False

    def __init__(self, name: str, spec: Any, placeholders: tuple[str, ...]):
        super().__init__(name)
        self.__spec__ = spec
        self.__dict__["_jw_placeholders"] = {p: _placeholder(name, p) for p in placeholders}
        self.__dict__["_jw_real"] = None
        if spec.submodule_search_locations is not None:  # a package: submodules resolve it
            self.__path__ = list(spec.submodule_search_locations)

    def __getattr__(self, attr: str) -> Any:  # names not in the stand-in's own __dict__
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        placeholder = self.__dict__["_jw_placeholders"].get(attr)
        if placeholder is not None and DeferredModule.importing:
            return placeholder
        return getattr(self.real(), attr)

    def real(self) -> types.ModuleType:
        """The real module, imported on the first call."""
        with _LOCK:
            module = self.__dict__["_jw_real"]
            if module is None:
                if sys.modules.get(self.__name__) is self:
                    del sys.modules[self.__name__]
                try:
                    module = importlib.import_module(self.__name__)
                except BaseException:
                    sys.modules.setdefault(self.__name__, self)
                    raise
                self.__dict__["_jw_real"] = module
            return module


class _Imported(importlib.abc.Loader):
    """Loader of a module already in ``sys.modules``: hands it over as it is."""

    def __init__(self, module: types.ModuleType):
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec: Any) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self.spec  # the import system set it to the spec of this loader


class SubmoduleFinder(importlib.abc.MetaPathFinder):
    """Imports a stand-in's real package before one of its submodules is imported.

    The import system looks the submodule up in the stand-in's ``__path__`` (the package's);
    this finder, asked first, imports the real package (which replaces the stand-in in
    ``sys.modules``). If that import loaded the submodule too, the finder hands over that
    module (loaded once, its ``__spec__`` unchanged); otherwise the usual finders load it
    from the package's path.
    """

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        standin = sys.modules.get(fullname.rpartition(".")[0])
        if not isinstance(standin, DeferredModule):
            return None
        standin.real()
        module = sys.modules.get(fullname)
        if module is None:
            return None
        spec = importlib.util.spec_from_loader(fullname, _Imported(module))
        # The import system loads a module found already imported from that module's own
        # spec (executing it again); this spec hands it over, then puts its own back.
        module.__spec__ = spec
        return spec


_FINDER = SubmoduleFinder()


def _placeholder(module: str, name: str) -> type:
    doc = f"Stand-in for {module}.{name} while Playground is imported (jacwrap._lazy_imports)."
    return type(name, (), {"__module__": module, "__doc__": doc})


def _spec(name: str) -> Any:
    """The module spec of ``name`` without importing it or, unlike
    :func:`importlib.util.find_spec`, its parent package (``flax/__init__.py`` imports
    ``flax.linen`` itself); None where it is not installed."""
    parent, _, _ = name.rpartition(".")
    try:
        if not parent:
            return importlib.util.find_spec(name)
        module = sys.modules.get(parent)
        if module is not None:
            return importlib.util.find_spec(name)
        parent_spec = _spec(parent)
        if parent_spec is None or parent_spec.submodule_search_locations is None:
            return None
        return importlib.machinery.PathFinder.find_spec(
            name, parent_spec.submodule_search_locations
        )
    except (ImportError, ValueError):
        return None


@contextlib.contextmanager
def deferred_imports() -> Iterator[list[str]]:
    """Put stand-ins for the :data:`DEFERRED` modules into ``sys.modules`` for the block.

    Yields the names it deferred (those neither imported before nor missing). The stand-ins
    stay after the block, until their first use.
    """
    names: list[str] = []
    with _LOCK:
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
        for name, placeholders in DEFERRED.items():
            spec = None if name in sys.modules else _spec(name)
            if spec is not None:
                sys.modules[name] = DeferredModule(name, spec, placeholders)
                names.append(name)
    DeferredModule.importing = True
    try:
        yield names
    finally:
        DeferredModule.importing = False


def is_deferred(name: str) -> bool:
    """Whether ``sys.modules[name]`` is a stand-in that has not imported its module yet."""
    module = sys.modules.get(name)
    return isinstance(module, DeferredModule) and module.__dict__["_jw_real"] is None
