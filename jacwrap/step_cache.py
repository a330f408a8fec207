"""Traced env steps kept on disk (``jax.export``), so that a warm start skips tracing.

Tracing MJX is most of a warm start: with the compile cache warm, CheetahRun's Jacobian
step at batch 32 took 10 s to trace and its reset 6 s, against about 1 s each to load the
compiled code (BENCHMARKS.md, "Warm start"). A :class:`CachedFunction` traces its function
once per machine, serialises the traced program (StableHLO, via ``jax.export``) into the
step cache and, in later processes, calls the deserialised program instead of tracing the
function again. XLA compiles that program like any other, so JAX's persistent compile
cache still serves the compiled code; results are bit for bit those of the traced function
(tests/test_step_cache.py).

An entry is keyed by everything that shapes the traced program (:func:`base_key` and the
argument shapes): the Playground env (its class, its config and a hash of its MuJoCo
model), the batch options (rows, Jacobians on or off, threshold), the source of jacwrap's
step modules and the step's output fields, the versions of jax, jaxlib, mujoco, mujoco-mjx,
playground, jacwrap and Python, and the JAX settings that change a trace (x64, PRNG,
matmul precision). Any change makes a new key, never a stale hit. Envs that jacwrap cannot
describe this way (not a Playground class, ``reset``/``step`` replaced on the instance) are
traced as before.

The cache lives in ``jacwrap-steps/`` inside JAX's compile cache directory (see
:func:`jacwrap._jax_setup.step_cache_dir`; ``JACWRAP_STEP_CACHE_DIR`` moves it, empty turns
it off). A file that is damaged or unreadable is reported with a :class:`StepCacheWarning`
and the function is traced again (the entry is rewritten); a directory that cannot be
written costs the saving, nothing else. Entries hold pickled pytree definitions, so the
directory must be as private as the user's other caches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

FORMAT = 1
"""Version of the entry layout; part of every key."""

MAGIC = b"jacwrap-step\n"
_DIGEST = 32  # sha256 of the payload, right after MAGIC
_SUFFIX = ".jwstep"

#: JAX settings that change what a function traces to.
_JAX_SETTINGS = (
    "jax_enable_x64",
    "jax_default_matmul_precision",
    "jax_default_prng_impl",
    "jax_threefry_partitionable",
    "jax_numpy_dtype_promotion",
)


class StepCacheWarning(UserWarning):
    """The step cache could not be read or written; jacwrap traced the step instead."""


@dataclass(frozen=True)
class Entry:
    """A traced function of flat arguments, with the trees to rebuild its pytrees."""

    exported: jax.export.Exported
    in_tree: Any  # PyTreeDef of the (args,) tuple
    out_tree: Any  # PyTreeDef of the result

    def call(self, *args: Any) -> Any:
        leaves, tree = jax.tree.flatten(args)
        if tree != self.in_tree:
            raise ValueError(f"cached step called with {tree}, exported for {self.in_tree}")
        return jax.tree.unflatten(self.out_tree, self.exported.call(*leaves))


# -- keys ------------------------------------------------------------------------------------
def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def versions() -> dict[str, str]:
    """Versions of everything whose code ends up in a traced step."""
    import jacwrap

    out = {d: _version(d) for d in ("jax", "jaxlib", "mujoco", "mujoco-mjx", "playground")}
    out["jacwrap"] = jacwrap.__version__
    out["python"] = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return out


def jax_settings() -> dict[str, str]:
    """The backend and the JAX settings of :data:`_JAX_SETTINGS`, as strings."""
    out = {name: str(getattr(jax.config, name, None)) for name in _JAX_SETTINGS}
    out["backend"] = jax.default_backend()
    return out


def source_hash(modules: Sequence[Any]) -> str:
    """sha256 of the source files of ``modules`` (the code a step is traced from)."""
    h = hashlib.sha256()
    for module in modules:
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()


def model_hash(mj_model: Any) -> str:
    """sha256 of a MuJoCo model's binary (MJB) form: every number the step closes over."""
    import mujoco

    buf = np.empty(mujoco.mj_sizeModel(mj_model), dtype=np.uint8)
    mujoco.mj_saveModel(mj_model, None, buf)
    return hashlib.sha256(buf.tobytes()).hexdigest()


def env_fingerprint(env: Any) -> dict[str, str] | None:
    """What identifies a Playground env's traced step, or None when it cannot be known.

    A class outside Playground (its code is not versioned), ``reset``/``step`` replaced on
    the instance, or a missing config or model: the env is traced every process.
    """
    cls = type(env)
    if not cls.__module__.startswith("mujoco_playground."):
        return None
    if any(name in vars(env) for name in ("reset", "step")):
        return None
    config = getattr(env, "_config", None)  # Playground keeps the env's ConfigDict here
    model = getattr(env, "mj_model", None)
    if not hasattr(config, "to_json") or model is None:
        return None
    return {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "config": config.to_json(sort_keys=True),
        "model": model_hash(model),
    }


def base_key(env: Any, options: dict[str, Any], code: Sequence[Any]) -> dict[str, Any] | None:
    """Key parts shared by an env's cached functions; None when the env is not cacheable.

    ``options`` are the batch's (rows, jacobians, threshold, ...); ``code`` the modules the
    functions are traced from (their source is hashed).
    """
    env_parts = env_fingerprint(env)
    if env_parts is None:
        return None
    return {
        "format": FORMAT,
        "env": env_parts,
        "options": {k: repr(v) for k, v in sorted(options.items())},
        "code": source_hash(code),
        "versions": versions(),
        "jax": jax_settings(),
    }


def _aval_text(x: Any) -> str:
    return f"{np.dtype(x.dtype).str}{tuple(x.shape)}"


def _static_text(x: Any) -> str:
    """Text of a pytree node's static data that is the same in every process.

    Not ``repr``: MJX keeps NumPy arrays there in wrappers that print as
    ``<... object at 0x...>``. Raises TypeError for data it cannot describe.
    """
    if x is None or isinstance(x, (bool, int, float, complex, str, bytes, np.generic)):
        return repr(x)
    if isinstance(x, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]
        return f"ndarray({x.dtype.str},{x.shape},{digest})"
    if isinstance(x, np.dtype):
        return f"dtype({x.str})"
    if isinstance(x, type):
        return f"{x.__module__}.{x.__qualname__}"
    if isinstance(x, (tuple, list, frozenset, set)):
        items = [_static_text(i) for i in x]
        return f"{type(x).__name__}({','.join(sorted(items) if isinstance(x, (set, frozenset)) else items)})"
    if isinstance(x, dict):
        items = sorted(f"{_static_text(k)}:{_static_text(v)}" for k, v in x.items())
        return f"dict({','.join(items)})"
    names = getattr(type(x), "__slots__", None) or sorted(getattr(x, "__dict__", {}))
    if names:
        if isinstance(names, str):
            names = (names,)
        fields = ",".join(f"{n}={_static_text(getattr(x, n, None))}" for n in names)
        return f"{_static_text(type(x))}({fields})"
    text = repr(x)
    if " at 0x" in text:
        raise TypeError(f"no stable description of {type(x).__qualname__} in a pytree")
    return text


def tree_text(tree: Any) -> str:
    """A pytree definition as text that is the same in every process (node types, static
    data and children; see :func:`_static_text`)."""
    if tree.num_nodes == 1 and tree.num_leaves == 1:
        return "*"
    node = tree.node_data()
    if node is None:
        return "*"
    kind, static = node
    children = ",".join(tree_text(c) for c in tree.children())
    return f"{_static_text(kind)}[{_static_text(static)}]({children})"


def tree_digest(tree: Any) -> str:
    """sha256 of :func:`tree_text` (``str(tree)`` differs between processes)."""
    return hashlib.sha256(tree_text(tree).encode()).hexdigest()


def call_key(parts: dict[str, Any], args: tuple) -> tuple[str, dict[str, Any]]:
    """(file key, full parts) of a call with ``args`` (arrays, tracers or shape structs)."""
    leaves, tree = jax.tree.flatten(args)
    full = {**parts, "in_tree": tree_digest(tree), "in_avals": [_aval_text(x) for x in leaves]}
    text = json.dumps(full, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:40], full


# -- files -----------------------------------------------------------------------------------
def _warn(message: str) -> None:
    warnings.warn(message, StepCacheWarning, stacklevel=3)


def _encode(parts: dict[str, Any], entry: Entry) -> bytes:
    payload = pickle.dumps(
        {
            "parts": parts,
            "exported": bytes(entry.exported.serialize()),
            "in_tree": entry.in_tree,
            "out_tree": entry.out_tree,
        },
        protocol=pickle.HIGHEST_PROTOCOL,
    )
    return MAGIC + hashlib.sha256(payload).digest() + payload


def _decode(blob: bytes, parts: dict[str, Any]) -> Entry:
    """The entry in ``blob``; ValueError when damaged or written for other ``parts``."""
    head = len(MAGIC)
    if blob[:head] != MAGIC or len(blob) < head + _DIGEST:
        raise ValueError("not a jacwrap step-cache file")
    digest, payload = blob[head : head + _DIGEST], blob[head + _DIGEST :]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError("checksum mismatch (truncated or damaged)")
    data = pickle.loads(payload)
    if data["parts"] != parts:
        raise ValueError("written for another step (key collision or a renamed file)")
    exported = jax.export.deserialize(bytearray(data["exported"]))
    return Entry(exported, data["in_tree"], data["out_tree"])


def load(directory: Path, key: str, parts: dict[str, Any]) -> Entry | None:
    """The cached entry ``key``, or None if absent; warns and returns None if damaged."""
    path = directory / f"{key}{_SUFFIX}"
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        _warn(f"step cache: cannot read {path} ({exc}); tracing the step instead")
        return None
    try:
        return _decode(blob, parts)
    except Exception as exc:  # any damage: trace again, never fail the user's step
        _warn(f"step cache: ignoring {path}: {exc}; tracing the step again")
        return None


def save(directory: Path, key: str, parts: dict[str, Any], entry: Entry) -> bool:
    """Write ``entry`` atomically; warns and returns False when it cannot be written."""
    path = directory / f"{key}{_SUFFIX}"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        blob = _encode(parts, entry)
        directory.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(blob)
        os.replace(tmp, path)
        return True
    except Exception as exc:  # read-only or full disk, unpicklable tree: keep going
        _warn(f"step cache: cannot write {path} ({exc}); the next process traces again")
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return False


# -- tracing ---------------------------------------------------------------------------------
def export_entry(fn: Callable, args: tuple) -> Entry:
    """Trace ``fn(*args)`` once into an :class:`Entry` (``args``: arrays or shape structs)."""
    leaves, in_tree = jax.tree.flatten(args)
    trees: list[Any] = []

    def flat(*xs):
        out = fn(*jax.tree.unflatten(in_tree, xs))
        out_leaves, out_tree = jax.tree.flatten(out)
        trees.append(out_tree)
        return out_leaves

    structs = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
    exported = jax.export.export(jax.jit(flat))(*structs)
    return Entry(exported, in_tree, trees[-1])


class CachedFunction:
    """``fn`` with its trace kept in the step cache; wrap it in ``jax.jit``.

    Called (normally while ``jax.jit`` traces it), it finds the entry for its arguments'
    structure and shapes: in memory, else on disk, else by tracing ``fn`` (then saved), and
    calls the entry's program. :meth:`preload` reads an entry ahead of the first call.
    """

    def __init__(self, fn: Callable, parts: dict[str, Any], directory: Path):
        self.__name__ = f"{parts.get('fn', 'function')}_cached"  # jax.jit's name in logs
        self.fn = fn
        self.parts = parts
        self.directory = directory
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self.loaded = 0  # entries read from disk
        self.traced = 0  # entries traced here

    def _key(self, args: tuple) -> tuple[str, dict[str, Any]] | None:
        try:
            return call_key(self.parts, args)
        except Exception as exc:  # a static field that cannot be pickled: no stable key
            _warn(f"step cache: cannot key {self.parts.get('fn', 'this function')} ({exc})")
            return None

    def preload(self, *args: Any) -> Entry | None:
        """Read the entry for ``args`` from disk (None when it is not there)."""
        keyed = self._key(args)
        if keyed is None:
            return None
        key, full = keyed
        with self._lock:
            if key not in self._entries:
                entry = load(self.directory, key, full)
                if entry is None:
                    return None
                self._entries[key] = entry
                self.loaded += 1
            return self._entries[key]

    def __call__(self, *args: Any) -> Any:
        """``fn(*args)`` from the cached entry; a missing entry is traced now and saved."""
        keyed = self._key(args)
        if keyed is None:
            return self.fn(*args)
        entry = self.preload(*args)
        if entry is None:
            entry = export_entry(self.fn, args)
            with self._lock:
                self._entries[keyed[0]] = entry
                self.traced += 1
            save(self.directory, *keyed, entry)
        return entry.call(*args)


def compile_ahead(jobs: Sequence[tuple[Any, tuple]]) -> None:
    """``jitted.lower(*args).compile()`` for each (jitted, args), in parallel threads.

    Loading two compiled programs from JAX's compile cache takes about 1 s each here; XLA
    deserialises them concurrently. The jitted functions keep the compiled code, so their
    first call runs at once. The first error (if any) is raised after all finished.
    """
    errors: list[BaseException] = []

    def run(jitted, args):
        try:
            jitted.lower(*args).compile()
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=job, daemon=True) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def structs(avals: Sequence[Any], sharding: Any = None) -> list[jax.ShapeDtypeStruct]:
    """Shape structs of ``avals`` (e.g. an exported program's ``out_avals``).

    ``sharding``: that of the arrays they stand for. A jitted function's outputs carry the
    sharding of its device; a program lowered for structs without it is another program
    to JAX's caches than the one called with those outputs.
    """
    return [jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding) for a in avals]
