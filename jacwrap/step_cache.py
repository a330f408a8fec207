"""Traced env steps kept on disk (``jax.export``), so that a warm start skips tracing.

Tracing MJX is most of a warm start: with the compile cache warm, CheetahRun's Jacobian
step at batch 32 took 10 s to trace and its reset 6 s, against about 1 s each to load the
compiled code (BENCHMARKS.md, "Warm start"). A :class:`CachedFunction` traces its function
once per machine, serialises the traced program (StableHLO, via ``jax.export``) into the
step cache and, in later processes, calls the deserialised program instead of tracing the
function again. The program takes and returns flat lists of arrays and is compiled by its
own ``jax.jit`` (:attr:`Entry.jitted`), so JAX's persistent compile cache serves the
compiled code; the :class:`CachedFunction` flattens the arguments and rebuilds the
results' pytrees around it. Results are bit for bit those of the traced function
(tests/test_step_cache.py).

An entry is keyed by everything that shapes the traced program (:func:`base_key` and the
arguments' structure and shapes): the Playground env (its class, its config but for the
episode length, which no reset or step reads, and a hash of its MuJoCo model), the batch options (rows, Jacobians on or off, threshold), the source of
jacwrap's step modules and the step's output fields, the versions of jax, jaxlib, mujoco,
mujoco-mjx, playground, jacwrap and Python, and the JAX settings that change a trace (x64,
PRNG, matmul precision). Any change makes a new key, never a stale hit. Envs that jacwrap
cannot describe this way (not a Playground class, ``reset``/``step`` replaced on the
instance) are traced as before.

A warm start also overlaps loading the compiled code with importing Playground
(CheetahRun: 0.8 s to load reset, 2.4 s the step, 0.25 s of import; BENCHMARKS.md). The
keys are only known once the env is built, so each cache directory keeps a small index per
task name and config overrides (:class:`IndexRecord`: the entry files, key parts, rows and
action size of the first batch a process built from that env). :func:`prefetch`, called by
:func:`jacwrap.envs.load_playground` before it imports Playground, loads and compiles what
the index names in a background thread, which never imports a module (Playground's classes
are only needed to rebuild pytrees, later, in the caller's thread); :func:`adopt` hands the
compiled functions to the batch only if their key parts equal the real env's exactly, and
otherwise stops the thread at its next stage. At the first call, the arguments' full key
must also be the file's. An index is a hint, never trusted: a damaged one is ignored with
a :class:`StepCacheWarning`, a stale one costs the background thread's work.

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
import importlib
import json
import os
import pickle
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

FORMAT = 3
"""Version of the entry layout; part of every key. 2: pytree definitions pickled apart
from the program, flat jitted programs. 3: an index names every function of its batch
(reset, step and the auto tangent's check)."""

MAGIC = b"jacwrap-step\n"
_DIGEST = 32  # sha256 of the payload, right after MAGIC
_SUFFIX = ".jwstep"
_CALL_PARTS = ("in_tree", "in_avals")  # what call_key adds to a function's parts

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


class Entry:
    """A traced function of flat arguments, the full key parts it is stored under and the
    pytree definitions of its arguments and results.

    The definitions stay pickled until first needed: they name the env's classes
    (Playground's ``State``, MJX's ``Data``), which a thread must not import while the main
    thread imports Playground. :attr:`jitted` is the program's own ``jax.jit`` (flat lists of
    arrays in and out), named after the function (``jit_step_cached``).
    """

    def __init__(self, exported: jax.export.Exported, parts: dict[str, Any], trees: Any):
        self.exported = exported
        self.parts = parts
        self._trees = trees  # (in_tree, out_tree), or their pickle (bytes)
        self._lock = threading.Lock()

        def flat(*leaves):  # runs when jax.jit traces: once per argument shapes
            if [(x.shape, x.dtype) for x in leaves] != [
                (a.shape, a.dtype) for a in exported.in_avals
            ]:
                raise _OtherShapes(parts.get("fn", "function"))
            return exported.call(*leaves)

        flat.__name__ = flat.__qualname__ = f"{parts.get('fn', 'function')}_cached"
        self.jitted = jax.jit(flat)

    def trees(self) -> tuple[Any, Any]:
        """(in_tree, out_tree), unpickled at the first call."""
        with self._lock:
            if isinstance(self._trees, bytes):
                self._trees = pickle.loads(self._trees)
            return self._trees

    def tree_blob(self) -> bytes:
        """The pickled (in_tree, out_tree), as stored in the file."""
        with self._lock:
            trees = self._trees
        return trees if isinstance(trees, bytes) else pickle.dumps(trees, pickle.HIGHEST_PROTOCOL)

    def call(self, *args: Any) -> Any:
        leaves, tree = jax.tree.flatten(args)
        in_tree, out_tree = self.trees()
        if tree != in_tree:
            raise ValueError(f"cached step called with {tree}, exported for {in_tree}")
        return jax.tree.unflatten(out_tree, self.jitted(*leaves))


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


#: Playground config entries that no env's ``reset`` or ``step`` reads, left out of the key:
#: ``episode_length`` is read only by Playground's training wrappers (jacwrap counts a
#: batch's steps against it on the host, :class:`jacwrap.batch.EnvBatch`), so batches of
#: every episode length share one entry (tests/test_step_cache.py checks that the programs
#: traced with two lengths are the same).
UNTRACED_CONFIG = ("episode_length",)


def env_fingerprint(env: Any) -> dict[str, str] | None:
    """What identifies a Playground env's traced step, or None when it cannot be known.

    A class outside Playground (its code is not versioned), ``reset``/``step`` replaced on
    the instance, or a missing config or model: the env is traced every process. The
    config is the env's less :data:`UNTRACED_CONFIG`.
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
    traced = {k: v for k, v in json.loads(config.to_json()).items() if k not in UNTRACED_CONFIG}
    return {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "config": json.dumps(traced, sort_keys=True),
        "model": model_hash(model),
    }


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python number it equals (``np.int64(2)`` prints otherwise)."""
    return value.item() if isinstance(value, np.generic) else value


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
        "options": {k: repr(_plain(v)) for k, v in sorted(options.items())},
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
        {"parts": parts, "exported": bytes(entry.exported.serialize()), "trees": entry.tree_blob()},
        protocol=pickle.HIGHEST_PROTOCOL,
    )
    return MAGIC + hashlib.sha256(payload).digest() + payload


def _base(parts: dict[str, Any]) -> dict[str, Any]:
    """A function's parts: the full parts of one of its entries without the call's."""
    return {k: v for k, v in parts.items() if k not in _CALL_PARTS}


def _decode(blob: bytes, parts: dict[str, Any], base: bool = False) -> Entry:
    """The entry in ``blob``; ValueError when damaged or written for other ``parts``
    (``base``: the function's parts, any call's). Imports nothing beyond jax: the payload
    is builtins, the pytree definitions stay pickled (:class:`Entry`)."""
    head = len(MAGIC)
    if blob[:head] != MAGIC or len(blob) < head + _DIGEST:
        raise ValueError("not a jacwrap step-cache file")
    digest, payload = blob[head : head + _DIGEST], blob[head + _DIGEST :]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError("checksum mismatch (truncated or damaged)")
    data = pickle.loads(payload)
    if (_base(data["parts"]) if base else data["parts"]) != parts:
        raise ValueError("written for another step (key collision or a renamed file)")
    exported = jax.export.deserialize(bytearray(data["exported"]))
    return Entry(exported, data["parts"], bytes(data["trees"]))


def load(directory: Path, key: str, parts: dict[str, Any], base: bool = False) -> Entry | None:
    """The cached entry ``key``, or None if absent; warns and returns None if damaged.

    ``base``: ``parts`` are the function's, not the call's (a prefetch knows only those).
    """
    path = directory / f"{key}{_SUFFIX}"
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        _warn(f"step cache: cannot read {path} ({exc}); tracing the step instead")
        return None
    try:
        return _decode(blob, parts, base)
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
def export_entry(fn: Callable, args: tuple, parts: dict[str, Any] | None = None) -> Entry:
    """Trace ``fn(*args)`` once into an :class:`Entry` (``args``: arrays, tracers or shape
    structs; ``parts``: the full key parts it will be stored under)."""
    leaves, in_tree = jax.tree.flatten(args)
    trees: list[Any] = []

    def flat(*xs):
        out = fn(*jax.tree.unflatten(in_tree, xs))
        out_leaves, out_tree = jax.tree.flatten(out)
        trees.append(out_tree)
        return out_leaves

    structs = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
    exported = jax.export.export(jax.jit(flat))(*structs)
    return Entry(exported, parts or {}, (in_tree, trees[-1]))


class _OtherShapes(Exception):
    """An entry's program called with arguments of other shapes than it was exported for
    (raised while jax.jit traces it, before anything runs)."""


def _signature(leaves: list[Any], tree: Any) -> tuple:
    return (
        tree,
        tuple((tuple(x.shape), np.dtype(x.dtype), getattr(x, "weak_type", False)) for x in leaves),
    )


class CachedFunction:
    """``fn`` with its trace kept in the step cache; call it as a jitted function.

    A call finds the entry for its arguments' structure and shapes: in memory, else on
    disk, else by tracing ``fn`` (then saved), and calls the entry's compiled program on the
    flattened arguments. Called inside a trace (``jax.eval_shape``, an outer ``jax.jit``),
    the program is inlined. :meth:`preload` reads an entry ahead of the first call;
    ``on_entry(key)`` is told each entry's file key once known (loaded or traced).
    """

    def __init__(
        self,
        fn: Callable,
        parts: dict[str, Any],
        directory: Path,
        on_entry: Callable[[str], None] | None = None,
    ):
        self.__name__ = f"{parts.get('fn', 'function')}_cached"
        self.fn = fn
        self.parts = parts
        self.directory = directory
        self.on_entry = on_entry
        self._entries: dict[str, Entry] = {}  # file key -> entry
        self._calls: dict[tuple, Entry] = {}  # call signature -> entry
        self._by_tree: dict[Any, Entry] = {}  # argument tree -> the entry last called with it
        self._lock = threading.RLock()
        self._fallback: Any = None  # jax.jit(fn), for arguments with no stable key
        self.loaded = 0  # entries read from disk
        self.traced = 0  # entries traced here
        self.prefetched = False  # loaded and compiled by a prefetch (see adopt)
        self.keys: list[str] = []  # file keys of its entries, in the order found

    def _key(self, args: tuple) -> tuple[str, dict[str, Any]] | None:
        try:
            return call_key(self.parts, args)
        except Exception as exc:  # a static field that cannot be described: no stable key
            _warn(f"step cache: cannot key {self.parts.get('fn', 'this function')} ({exc})")
            return None

    def _add(self, key: str, entry: Entry, loaded: bool) -> Entry:
        with self._lock:
            if key in self._entries:
                return self._entries[key]
            self._entries[key] = entry
            self.loaded += loaded
            self.traced += not loaded
            self.keys.append(key)
        if self.on_entry is not None:
            self.on_entry(key)
        return entry

    def preload(self, *args: Any) -> Entry | None:
        """Read the entry for ``args`` from disk (None when it is not there)."""
        keyed = self._key(args)
        if keyed is None:
            return None
        key, full = keyed
        with self._lock:
            if key in self._entries:
                return self._entries[key]
            entry = load(self.directory, key, full)
            return None if entry is None else self._add(key, entry, loaded=True)

    def preload_file(self, key: str) -> Entry | None:
        """Read entry file ``key``, written for this function (any call); None if absent.

        What a prefetch does, knowing the file but not the call: the call's full key is
        checked against the file's parts at the first call (:meth:`__call__`).
        """
        with self._lock:
            if key in self._entries:
                return self._entries[key]
            entry = load(self.directory, key, self.parts, base=True)
            return None if entry is None else self._add(key, entry, loaded=True)

    def entry_for(self, *args: Any) -> Entry | None:
        """The entry for ``args``: in memory, on disk, or traced now and saved (None when
        the arguments have no stable key)."""
        keyed = self._key(args)
        if keyed is None:
            return None
        key, full = keyed
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.parts != full:  # a prefetched file, another call
                raise RuntimeError(f"step cache: entry {key} was written for another call")
            if entry is None:
                entry = self.preload(*args)
            if entry is None:
                entry = export_entry(self.fn, args, full)
                self._add(key, entry, loaded=False)
                save(self.directory, key, full, entry)
            return entry

    def __call__(self, *args: Any) -> Any:
        """``fn(*args)`` from the cached entry; a missing entry is traced now and saved."""
        leaves, tree = jax.tree.flatten(args)
        # Fast path, every step: the entry last called with this tree. Its program checks the
        # shapes itself (jax.jit's signature, in C++; a new one traces the entry's wrapper,
        # which refuses other shapes than the entry's): no Python pass over the leaves.
        entry = self._by_tree.get(tree)
        if entry is not None:
            try:
                return jax.tree.unflatten(entry.trees()[1], entry.jitted(*leaves))
            except _OtherShapes:
                pass
        signature = _signature(leaves, tree)
        entry = self._calls.get(signature)
        if entry is None:
            entry = self.entry_for(*args)
            if entry is None:
                if self._fallback is None:
                    self._fallback = jax.jit(self.fn)
                return self._fallback(*args)
            with self._lock:
                self._calls[signature] = entry
        in_tree, out_tree = entry.trees()
        if tree != in_tree:  # equal key digests, unequal trees: never serve it
            raise RuntimeError(
                f"step cache: {self.__name__} called with {tree}, entry has {in_tree}"
            )
        self._by_tree[tree] = entry
        return jax.tree.unflatten(out_tree, entry.jitted(*leaves))

    def lower(self, *args: Any) -> Any:
        """``jax.jit(...).lower`` of the entry's program for ``args`` (arrays or shape
        structs; a missing entry is traced now and saved): ``.compile()`` it ahead of the
        first call with arguments like these."""
        entry = self.entry_for(*args)
        if entry is None:
            if self._fallback is None:
                self._fallback = jax.jit(self.fn)
            return self._fallback.lower(*args)
        return entry.jitted.lower(*jax.tree.leaves(args))

    def _cache_size(self) -> int:
        """Compiled signatures over all entries (``jax.jit``'s method of the same name)."""
        with self._lock:
            jitted = [e.jitted for e in self._entries.values()]
        jitted += [self._fallback] if self._fallback is not None else []
        return sum(j._cache_size() for j in jitted)


def compile_ahead(jobs: Sequence[tuple[Any, tuple]], then: Callable[[], Any] | None = None) -> None:
    """``jitted.lower(*args).compile()`` for each (jitted, args): lowered one after the other
    in this thread, in the order given, each compiled in its own thread once lowered;
    ``then()``, where given, is called once all are lowered, while they compile.

    Loading a compiled program from JAX's compile cache is XLA deserialising it (about 1 s
    for CheetahRun's reset, 2 s for its step here) and needs no Python lock, so the
    programs load side by side; lowering does (0.1-0.3 s each), so lowering them in
    parallel threads only delays the first load: give the largest first. The jitted
    functions keep the compiled code, so their first call runs at once. The first error
    (if any) is raised after all finished.
    """
    errors: list[BaseException] = []

    def run(lowered):
        try:
            lowered.compile()
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    threads = []
    try:
        for i, (jitted, args) in enumerate(jobs):
            lowered = jitted.lower(*args)
            name = f"jacwrap-compile-{i}"
            threads.append(threading.Thread(target=run, args=(lowered,), daemon=True, name=name))
            threads[-1].start()
        if then is not None:
            then()
    finally:
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


def compile_batch(
    functions: Sequence[CachedFunction],
    rows: int,
    nu: int,
    files: Sequence[str] | None = None,
    stop: Callable[[], bool] | None = None,
    lazy: int = 0,
    background: list[threading.Thread] | None = None,
) -> bool:
    """Load or trace a batch's functions and compile them side by side
    (:func:`compile_ahead`); True when all were compiled.

    ``functions`` are the batch's (reset, step, ...): reset takes ``rows`` PRNG keys and
    returns (state, s); each other one takes that state and (rows, nu) float64 actions, so
    its last flat argument is the actions. A function whose entry is not on disk is traced
    now (and saved), except the last ``lazy`` ones, left to their first call when their
    entry is on disk (loading them then is cheap; compiling them cold is not). Where
    ``background`` is a list, those lazy ones that are not on disk are traced and compiled
    in a thread of their own (appended to it, started after the others compiled) rather
    than with the others: the first call of the others need not wait for them.

    ``files``: the entries' file keys, where known (a prefetch: then nothing is traced and
    nothing here needs the env's classes; a missing file compiles nothing). ``stop``
    (checked before compiling) gives up early.
    """
    reset_fn, *step_fns = functions
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    if files is not None:
        entries = [fn.preload_file(f) for fn, f in zip(functions, files, strict=True)]
        if any(e is None for e in entries):
            return False
        first, others = entries[0], entries[1:]
        reset_cold = False
        jobs = list(zip(step_fns, [None] * len(step_fns), strict=True))
    else:
        keys = jax.eval_shape(
            jax.vmap(jax.random.PRNGKey), jax.ShapeDtypeStruct((rows,), np.uint32)
        )
        traced = reset_fn.traced
        first = reset_fn.entry_for(keys)
        reset_cold = reset_fn.traced > traced
        if first is None:  # no stable key: traced at the first call
            return False
        state = structs(first.exported.out_avals, device)
        state = jax.tree.unflatten(first.trees()[1], state)[0]
        actions = jax.ShapeDtypeStruct((rows, nu), np.dtype(np.float64))
        optional = len(step_fns) - lazy
        others, jobs, later = [], [], []
        for i, fn in enumerate(step_fns):
            if i >= optional and fn.preload(state, actions) is not None:
                continue  # on disk: loaded at its first call
            (later if i >= optional and background is not None else jobs).append(
                (fn, (state, actions))
            )
        others = [None] * len(jobs)
    if stop is not None and stop():
        return False
    # Reset's outputs (the step's state) carry the sharding of the device it ran on; the
    # PRNG keys and the actions none.
    todo = []
    for (fn, args), entry in zip(jobs, others, strict=True):
        if entry is not None:  # a prefetch: the flat program of a known entry
            step_in = entry.exported.in_avals
            todo.append((entry.jitted, structs(step_in[:-1], device) + structs(step_in[-1:])))
        else:  # lowered through the function: traced here where not on disk
            todo.append((fn, args))
    # Loading: the steps first, the larger programs, whose loads take longest. Cold (reset
    # just traced): reset first, so that it compiles while the steps trace.
    reset = (first.jitted, structs(first.exported.in_avals))
    todo = [reset, *todo] if reset_cold else [*todo, reset]

    def start_later() -> None:  # traced while the others compile
        thread = threading.Thread(
            target=compile_ahead, args=(later,), name="jacwrap-compile-later", daemon=False
        )
        background.append(thread)
        thread.start()

    compile_ahead(todo, start_later if files is None and later else None)
    return True


# -- prefetch --------------------------------------------------------------------------------
_INDEX_SUFFIX = ".jwindex"
_INDEX_MAGIC = "jacwrap-step-index"


@dataclass(frozen=True)
class IndexRecord:
    """The first batch a process built from one task and config overrides: the key parts
    of its functions (reset first, then those called like the step: step, check), their
    entry files, its rows per compiled call, the env's action size and the modules whose
    source the key hashes (``code``)."""

    parts: tuple[dict[str, Any], ...]
    files: tuple[str, ...]
    rows: int
    nu: int
    modules: tuple[str, ...]


def origin_key(origin: tuple[str, str]) -> str:
    """File key of the index of ``origin`` = (task name, config overrides as JSON)."""
    text = json.dumps({"format": FORMAT, "origin": list(origin)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _index_path(directory: Path, origin: tuple[str, str]) -> Path:
    return directory / f"{origin_key(origin)}{_INDEX_SUFFIX}"


def _record(data: dict[str, Any], origin: tuple[str, str]) -> IndexRecord:
    """The record in an index file's JSON; ValueError (KeyError, TypeError) if malformed."""
    if data["magic"] != _INDEX_MAGIC or data["format"] != FORMAT:
        raise ValueError("not a jacwrap step index of this format")
    if data["origin"] != list(origin):
        raise ValueError("written for another task or config (a renamed file)")
    names = (*data["files"], *data["modules"])
    if not all(isinstance(n, str) and n for n in names):
        raise ValueError("files and modules must be names")
    parts = data["parts"]
    if not (isinstance(parts, list) and all(isinstance(p, dict) for p in parts)):
        raise ValueError("key parts are not a list of objects")
    if not 2 <= len(parts) == len(data["files"]):
        raise ValueError("one entry file per function, at least reset and step")
    if not all(type(data[k]) is int and data[k] >= 0 for k in ("rows", "nu")):
        raise ValueError("rows and nu must be integers")
    files, modules = tuple(data["files"]), tuple(data["modules"])
    return IndexRecord(tuple(parts), files, data["rows"], data["nu"], modules)


def read_index(directory: Path, origin: tuple[str, str]) -> IndexRecord | None:
    """The index record of ``origin``, None if absent or unreadable (the entries' own reads
    report that); warns and returns None if damaged."""
    path = _index_path(directory, origin)
    try:
        text = path.read_bytes()
    except OSError:
        return None
    try:
        return _record(json.loads(text), origin)
    except (KeyError, TypeError, ValueError) as exc:
        _warn(f"step cache: ignoring index {path} ({type(exc).__name__}: {exc})")
        return None


def write_index(directory: Path, origin: tuple[str, str], record: IndexRecord) -> bool:
    """Write ``origin``'s index atomically; warns and returns False when it cannot."""
    path = _index_path(directory, origin)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    data = {"magic": _INDEX_MAGIC, "format": FORMAT, "origin": list(origin)}
    data.update(parts=list(record.parts), files=list(record.files))
    data.update(rows=record.rows, nu=record.nu, modules=list(record.modules))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, path)
        return True
    except (OSError, TypeError, ValueError) as exc:
        _warn(f"step cache: cannot write index {path} ({exc})")
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return False


def _not_adopted(*args: Any) -> Any:
    raise RuntimeError("a prefetched step cannot trace before adopt() gives it its function")


@dataclass(eq=False)
class Prefetch:
    """The background load and compile of what one origin's index names (see :func:`prefetch`)."""

    directory: Path
    origin: tuple[str, str]
    record: IndexRecord
    functions: tuple[CachedFunction, ...] = field(init=False)
    compiled: bool = False
    cancelled: bool = False
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.functions = tuple(
            CachedFunction(_not_adopted, parts, self.directory) for parts in self.record.parts
        )

    def current(self) -> bool:
        """Whether the record's versions, JAX settings and step source are this process's
        (imports the step modules; called before the thread starts)."""
        parts = self.record.parts[0]
        if parts.get("versions") != versions() or parts.get("jax") != jax_settings():
            return False
        modules = [importlib.import_module(m) for m in self.record.modules]
        return parts.get("code") == source_hash(modules)

    def run(self) -> None:
        try:
            self.compiled = compile_batch(
                self.functions,
                self.record.rows,
                self.record.nu,
                files=self.record.files,
                stop=lambda: self.cancelled,
            )
        except Exception as exc:  # a guess that did not work out: the batch loads as before
            self.error = exc


#: (directory, origin) -> its prefetch, until a batch adopts or cancels it.
_PREFETCHES: dict[tuple[Path, tuple[str, str]], Prefetch] = {}
#: (directory, origin) pairs this process prefetched or indexed (each at most once).
_STARTED: set[tuple[Path, tuple[str, str]]] = set()
_INDEXED: set[tuple[Path, tuple[str, str]]] = set()
#: id(env) -> (weak reference to env, its origin), for envs built by load_playground.
_ORIGINS: dict[int, tuple[Any, tuple[str, str]]] = {}
_PREFETCH_LOCK = threading.Lock()
_WARM = threading.Event()


def warm_up() -> None:
    """Import, in this thread, what loading and lowering an entry imports on first use.

    Deserialising an exported program, lowering a call of it and compiling it through the
    compile cache import modules on first use (JAX's export serialisation, MLIR dialects,
    LAPACK kernels and with them SciPy's linalg, the cache's file system layer): a prefetch
    thread must not import while the main thread imports Playground (two threads importing
    the same modules can deadlock), so this runs in the calling thread first, on a one-op
    program (once per process; tests/test_step_cache.py checks that the threads import
    nothing).
    """
    if _WARM.is_set():
        return
    x = jax.ShapeDtypeStruct((2,), np.float64)
    exported = jax.export.export(jax.jit(lambda v: v * 2.0))(x)
    exported = jax.export.deserialize(exported.serialize())
    jax.jit(exported.call).lower(x).compile()
    _WARM.set()


def prefetch(directory: Path, origin: tuple[str, str]) -> Prefetch | None:
    """Start loading and compiling what ``origin``'s index names, in a background thread.

    Once per (directory, origin) and process; None when there is no usable index (absent,
    damaged: warned, or written by other versions or step source). The thread is not a
    daemon: a process that exits while it runs waits for it (at most the time to load the
    batch's programs).
    """
    key = (directory, origin)
    with _PREFETCH_LOCK:
        if key in _STARTED:
            return None
        _STARTED.add(key)
    record = read_index(directory, origin)
    if record is None:
        return None
    job = Prefetch(directory, origin, record)
    try:
        if not job.current():
            return None
        warm_up()
    except Exception:  # a step module that does not import, a JAX that cannot export
        return None
    job.thread = threading.Thread(target=job.run, name=f"jacwrap-prefetch-{origin[0]}")
    with _PREFETCH_LOCK:
        _PREFETCHES[key] = job
    job.thread.start()
    return job


def clear_prefetches() -> None:
    """Cancel pending prefetches and forget which origins were prefetched or indexed, so
    that the next :func:`prefetch` and :func:`note_batch` of each act again."""
    with _PREFETCH_LOCK:
        for job in _PREFETCHES.values():
            job.cancelled = True
        _PREFETCHES.clear()
        _STARTED.clear()
        _INDEXED.clear()


def note_origin(env: Any, origin: tuple[str, str]) -> None:
    """Remember that ``env`` was built as ``origin`` (task name, config overrides as JSON)."""
    with contextlib.suppress(TypeError):  # an object without weak references: no index
        _ORIGINS[id(env)] = (weakref.ref(env), origin)


def origin_of(env: Any) -> tuple[str, str] | None:
    """The origin :func:`note_origin` recorded for ``env``, or None."""
    hit = _ORIGINS.get(id(env))
    return hit[1] if hit is not None and hit[0]() is env else None


def adopt(
    directory: Path,
    origin: tuple[str, str] | None,
    parts: tuple[dict[str, Any], ...],
    fns: tuple[Callable, ...],
) -> tuple[CachedFunction, ...] | None:
    """The cached functions (reset, step, ...) a finished prefetch compiled for exactly
    these key parts (one per function, in that order), or None.

    Waits for it; the functions get ``fns`` (the real ones, traced should other arguments
    need an entry). Other prefetches of ``origin`` from ``directory`` guessed
    another batch: they are cancelled (their thread stops before it compiles, if it has not
    yet).
    """
    with _PREFETCH_LOCK:
        match = None
        for key, job in list(_PREFETCHES.items()):
            if job.directory != directory:
                continue
            if match is None and job.record.parts == tuple(parts):
                match = _PREFETCHES.pop(key)
            elif job.origin == origin:
                job.cancelled = True
                del _PREFETCHES[key]
    if match is None:
        return None
    match.thread.join()
    if not match.compiled:
        return None
    for cached, fn in zip(match.functions, fns, strict=True):
        cached.fn = fn
        cached.prefetched = True
    return match.functions


def note_batch(directory: Path, origin: tuple[str, str], record: IndexRecord) -> None:
    """Index ``record`` as ``origin``'s first batch, once per process (unchanged: no write)."""
    key = (directory, origin)
    with _PREFETCH_LOCK:
        if key in _INDEXED:
            return
        _INDEXED.add(key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StepCacheWarning)  # a damaged index is rewritten
        if read_index(directory, origin) == record:
            return
    write_index(directory, origin, record)


def index_when_known(
    directory: Path,
    origin: tuple[str, str],
    functions: tuple[CachedFunction, ...],
    rows: int,
    nu: int,
    modules: tuple[str, ...],
) -> None:
    """Index a batch's functions under ``origin`` (:func:`note_batch`) as soon as all have
    an entry file (loaded or traced), now or at a later call."""

    def check(_key: str = "") -> None:
        if all(fn.keys for fn in functions):
            files = tuple(fn.keys[0] for fn in functions)
            parts = tuple(fn.parts for fn in functions)
            note_batch(directory, origin, IndexRecord(parts, files, rows, nu, modules))

    for fn in functions:
        fn.on_entry = check
    check()
