"""A batch of environments stepped by one compiled function: the core of every adapter.

:class:`EnvBatch` owns the Playground states of ``num_envs`` environments, steps them with
one jitted, vmapped function (Jacobians included or not; on CPU, batches over
:data:`SUB_BATCH` envs are stepped as sub-batches of that size by the same function), truncates episodes at the task's
episode length and auto-resets finished environments in the same step (Gymnasium's
``SAME_STEP`` mode; the final observation is kept). The single-env, vector-env and SB3
adapters are thin layers over it, so all three compute exactly the same thing.

Batching: the batch axis is sharded over all local JAX devices when it divides evenly
(on CPU, start Python with ``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>``
to get one device per core). Reset states are cast to the exact array types that the
step returns, so the step compiles once, not again on its own output or at auto-reset.
Batches of the same env object, size and options share their compiled functions
(:func:`compiled_batch`): N envs built one at a time trace and compile one step.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jacwrap.auto_tangent import TangentStats, exact_rows, with_unrolled_rows
from jacwrap.envs import EnvInfo
from jacwrap.errors import ActionError, UnsupportedEnvError
from jacwrap.jacobians import (
    difference_along,
    jacobian_step,
    plain_step,
    state_vector,
    unrolled_along,
)
from jacwrap.solver_tangent import TANGENTS
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD


@dataclass
class BatchStep:
    """Host (NumPy) results of one batched step; arrays have a leading batch axis B.

    ``state`` is s (before the step) and ``next_state`` s' (after, before any auto-reset).
    ``obs`` is the observation to act on next: the reset observation where an episode ended
    (then ``final_obs`` holds the last observation of the finished episode). The contact
    fields describe the step from s (:mod:`jacwrap.contacts`; P = ``len(info.contact_pairs)``).
    """

    obs: np.ndarray  # (B, obs_dim) float32
    action: np.ndarray  # (B, m) float64: the actions applied (validated)
    reward: np.ndarray  # (B,) float64
    terminated: np.ndarray  # (B,) bool
    truncated: np.ndarray  # (B,) bool
    state: np.ndarray  # (B, n) float64
    next_state: np.ndarray  # (B, n) float64
    jac_state: np.ndarray | None  # (B, n, n) float64
    jac_action: np.ndarray | None  # (B, n, m) float64
    sparsity: np.ndarray | None  # (B, 3) float64: state, action, combined (NaN if non-finite)
    finite: np.ndarray  # (B,) bool
    final_obs: np.ndarray  # (B, obs_dim) float32, meaningful where an episode ended
    reset_state: np.ndarray  # (B, n): the state after auto-reset (== next_state if none)
    contacts: np.ndarray  # (B, P) bool: pairs in contact at any substep of the step
    contacts_start: np.ndarray  # (B, P) bool: pairs in contact at the start state s
    n_contacts: np.ndarray  # (B,) int32: active contacts, max over the substeps
    n_constraints: np.ndarray  # (B,) int32: active constraint rows, max over the substeps


def check_actions(info: EnvInfo, num_envs: int, actions: Any) -> np.ndarray:
    """Validate a (B, m) batch of actions; returns float64 NumPy (NaN allowed)."""
    m = info.nu
    arr = np.asarray(actions)
    if arr.dtype.kind not in "fiu":
        raise ActionError(
            f"{info.name}: actions must be numeric with shape ({num_envs}, {m}); "
            f"got dtype {arr.dtype}"
        )
    if arr.shape != (num_envs, m):
        raise ActionError(
            f"{info.name}: expected actions of shape ({num_envs}, {m}), got {arr.shape}"
        )
    return arr.astype(np.float64, copy=False)


def _strong_types(tree: Any) -> Any:
    """Drop weak types (e.g. ``data.time`` after ``replace(time=0.0)``) from every leaf.

    The step returns strongly typed arrays; a reset state with a weak-typed leaf would make
    the jitted step compile a second time on its own output and at every auto-reset.
    """
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, jnp.result_type(x)), tree)


def _state_dtype(env: Any) -> np.dtype:
    """dtype of the env's qpos: read off the MJX model (free), else by tracing ``reset``."""
    qpos0 = getattr(getattr(env, "mjx_model", None), "qpos0", None)
    if hasattr(qpos0, "dtype"):
        return np.dtype(qpos0.dtype)
    return np.dtype(jax.eval_shape(lambda k: env.reset(k).data.qpos, jax.random.PRNGKey(0)).dtype)


@dataclass(frozen=True)
class CompiledBatch:
    """The jitted functions of a batch: what every batch of one (env, size, options) shares.

    ``reset(keys) -> (state, s)``, ``step(state, actions) -> StepResult`` (vmapped) and
    ``merge(mask, new, old)`` (auto-reset), with the batch sharding (None on one device).
    Under the ``"auto"`` solver tangent, ``step`` is the implicit Jacobian step,
    ``check(state, actions)`` its check (:func:`jacwrap.jacobians.unrolled_along`, vmapped),
    ``unrolled`` the unrolled Jacobian step and ``difference(state, actions)`` the centered
    difference that decides a disagreeing check (:func:`jacwrap.jacobians.difference_along`,
    vmapped); otherwise all three are None. ``traces`` holds the step cache's functions
    (reset, step[, check, unrolled, difference]) where the
    step cache serves this batch (:mod:`jacwrap.step_cache`; their ``loaded``/``traced``
    count where each trace came from), else None.
    """

    env: Any
    reset: Callable
    step: Callable
    merge: Callable
    sharding: Any
    traces: tuple[Any, ...] | None = None
    check: Callable | None = None
    unrolled: Callable | None = None
    difference: Callable | None = None
    pending: list = field(default_factory=list, compare=False)  # threads still compiling

    def unrolled_step(self) -> Callable:
        """The unrolled step, once any background compile of it has finished."""
        self._wait()
        return self.unrolled

    def difference_along(self) -> Callable:
        """The centered difference along v, once any background compile of it has finished."""
        self._wait()
        return self.difference

    def _wait(self) -> None:
        for thread in self.pending:
            thread.join()


#: (id(env), num_envs, jacobians, threshold, shard) -> CompiledBatch. Envs built one at a time
#: (``gymnasium.make`` N times, SB3's ``make_vec_env``, ``SyncVectorEnv``) share one entry,
#: so N envs cost one trace and one compile. Entries hold their env, so ids are never reused.
_COMPILED: dict[tuple, CompiledBatch] = {}
_COMPILED_MAX = 64


def clear_compiled() -> None:
    """Forget every shared compiled step (the next batch traces again)."""
    _COMPILED.clear()


def compiled_batch(
    env: Any,
    num_envs: int,
    *,
    jacobians: bool,
    threshold: float,
    shard: bool = True,
    tangent: str = "unrolled",
) -> CompiledBatch:
    """The shared :class:`CompiledBatch` of ``num_envs`` copies of ``env`` (built once).

    ``tangent``: the constraint solver's, ``"unrolled"`` or ``"auto"`` (:data:`TANGENTS`:
    the implicit step, its check and the unrolled step); only Jacobian steps have one.
    """
    tangent = tangent if jacobians else "unrolled"
    key = (id(env), num_envs, bool(jacobians), float(threshold), bool(shard), tangent)
    hit = _COMPILED.get(key)
    if hit is not None and hit.env is env:
        return hit
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.pop(next(iter(_COMPILED)))
    entry = _build_compiled(env, num_envs, jacobians, float(threshold), shard, tangent)
    _COMPILED[key] = entry
    return entry


#: On CPU, the largest batch that one compiled step covers. A bigger batch is stepped as
#: sub-batches of this size, each a call of the same compiled step (the last one padded), so
#: compile time and code size stay those of this batch whatever ``num_envs`` is: vmapped
#: whole, CheetahRun's batch 128 took minutes to compile or never finished (BENCHMARKS.md).
#: On GPU/TPU the whole batch is one call.
SUB_BATCH = 32


def sub_batch_size(num_envs: int, sharded: bool) -> int:
    """Rows per compiled call for a batch of ``num_envs``."""
    if sharded or jax.default_backend() != "cpu":
        return num_envs
    return min(num_envs, SUB_BATCH)


def _build_compiled(
    env: Any, num_envs: int, jacobians: bool, threshold: float, shard: bool, tangent: str
) -> CompiledBatch:
    def one(st, a, tangent="unrolled"):
        if jacobians:
            return jacobian_step(env, st, a, threshold, tangent=tangent)
        return plain_step(env, st, a)

    def reset(keys):
        st = _strong_types(jax.vmap(env.reset)(keys))
        return st, state_vector(st.data)

    def merge(mask, new, old):
        def pick(n, o):
            m = mask.reshape(mask.shape + (1,) * (o.ndim - 1))
            return jnp.where(m, n, o)

        return jax.tree.map(pick, new, old)

    sharding = None
    devices = jax.local_devices()
    if shard and len(devices) > 1 and num_envs % len(devices) == 0:
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        mesh = Mesh(np.array(devices), ("batch",))
        sharding = NamedSharding(mesh, PartitionSpec("batch"))
    # Every leaf has the batch axis first: with several devices, inputs and outputs are all
    # sharded along it, so the step's output feeds the step without a second compile.
    sh = {} if sharding is None else {"in_shardings": sharding, "out_shardings": sharding}
    fns = {"reset": reset, "step": jax.vmap(one)}
    if tangent == "auto":
        fns["step"] = jax.vmap(functools.partial(one, tangent="implicit"))
        fns["check"] = jax.vmap(functools.partial(unrolled_along, env))
        fns["unrolled"] = jax.vmap(one)
        fns["difference"] = jax.vmap(functools.partial(difference_along, env))
    traces = None
    if sharding is None:  # the step cache keeps one-device steps only
        traces = _step_cache(env, fns, num_envs, jacobians, threshold, tangent)
    if traces is None:
        called = {k: jax.jit(f, **sh) for k, f in fns.items()}
    else:
        called = dict(zip(fns, traces, strict=True))
    compiled = CompiledBatch(
        env=env, merge=jax.jit(merge, **sh), sharding=sharding, traces=traces, **called
    )
    if traces is not None and not traces[0].prefetched:
        _compile_ahead(compiled, num_envs)
    return compiled


#: Functions of an auto-tangent batch that its first step needs (reset, step, check); the
#: unrolled step and the difference after them are needed only where a check disagrees.
_EAGER = 3


def _step_cache(env, fns, num_envs, jacobians, threshold, tangent) -> tuple[Any, ...] | None:
    """The functions ``fns`` (name -> function: reset, step[, check, unrolled, difference])
    served by the step cache (:mod:`jacwrap.step_cache`), in that order, or None.

    None when the cache is off, the env is not one it can key, or this module's step
    functions were replaced (a test counting traces): those are traced as before. The
    functions are called like jitted ones. An env built by
    :func:`jacwrap.envs.load_playground` indexes its first batch's reset, step (and check)
    for the next process's prefetch, and takes this process's prefetch where it compiled
    these very functions.
    """
    import sys

    from jacwrap import auto_tangent, contacts, errors, solver_tangent, sparsity, step_cache
    from jacwrap import jacobians as jac
    from jacwrap._jax_setup import step_cache_dir

    directory = step_cache_dir()
    if directory is None or (jacobian_step, plain_step) != (jac.jacobian_step, jac.plain_step):
        return None
    # The modules a step is traced from (their source is part of the key).
    code = (sys.modules[__name__], jac, contacts, solver_tangent, sparsity, errors, step_cache)
    code += (auto_tangent,)
    options = {"rows": num_envs, "jacobians": jacobians, "threshold": threshold}
    options["fields"] = jac.StepResult._fields
    parts = step_cache.base_key(env, options, code)
    if parts is None:
        return None
    # Reset does not depend on the tangent: batches of either tangent share its entry.
    keys = [{**parts, "fn": name} for name in fns]
    for k in keys[1:]:
        k["tangent"] = tangent
    eager = min(len(fns), _EAGER)
    origin = step_cache.origin_of(env)
    functions = tuple(fns.values())
    adopted = step_cache.adopt(directory, origin, tuple(keys[:eager]), functions[:eager])
    made = [
        step_cache.CachedFunction(f, k, directory)
        for f, k in zip(functions[len(adopted or ()) :], keys[len(adopted or ()) :], strict=True)
    ]
    out = (*(adopted or ()), *made)
    if origin is not None:
        modules = tuple(m.__name__ for m in code)
        nu = int(env.mj_model.nu)
        step_cache.index_when_known(directory, origin, out[:eager], num_envs, nu, modules)
    return out


def _compile_ahead(fns: CompiledBatch, num_envs: int) -> None:
    """Load or trace every program of the batch now, and compile them side by side.

    Each trace comes from disk or is traced now (and saved); the compiled code comes from
    JAX's compile cache or from XLA, each program in its own thread
    (:func:`jacwrap.step_cache.compile_batch`), so that a cold start costs the traces plus
    the compiles shared over the cores, not the sum of the compiles. The auto tangent's
    unrolled step and difference, needed only where a check disagrees, are loaded at their
    first use where their traces are on disk (about a second), else traced and compiled in
    a background thread (:attr:`CompiledBatch.pending`) once the others are: a cold batch
    steps that much sooner, and waits for them only if a check disagrees before they are
    ready.
    """
    from jacwrap import step_cache

    nu = int(fns.env.mj_model.nu)
    lazy = max(0, len(fns.traces) - _EAGER)
    step_cache.compile_batch(fns.traces, num_envs, nu, lazy=lazy, background=fns.pending)


class EnvBatch:
    """``num_envs`` copies of a Playground env stepped together (see module docstring).

    ``solver_tangent``: how the Jacobian step differentiates the constraint solver
    (:mod:`jacwrap.solver_tangent`). ``"auto"`` (default): the implicit tangent, with the
    rows where a solve stopped before converging recomputed by forward mode through the
    solver loop (compiled at its first use; :class:`TangentStats`); ``"unrolled"``: forward
    mode through the loop for every step. Both give the same Jacobians (to ~1e-12) except
    where the loop's own tangent misses a warm start's dependence (``auto`` is right there).
    """

    def __init__(
        self,
        env: Any,
        info: EnvInfo,
        num_envs: int,
        *,
        jacobians: bool = True,
        threshold: float = GROUND_TRUTH_THRESHOLD,
        shard: bool = True,
        autoreset: bool = True,
        solver_tangent: str = "auto",
    ):
        # A plain int: NumPy's (e.g. a slice of np.linspace bounds) would print as
        # np.int64(2) in the step cache's key and miss every entry a plain 2 wrote.
        num_envs = operator.index(num_envs)
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if solver_tangent not in TANGENTS:
            raise ValueError(f"solver_tangent must be one of {TANGENTS}, got {solver_tangent!r}")
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        self.env = env
        self.info = info
        self.num_envs = num_envs
        self.jacobians = jacobians
        self.threshold = float(threshold)
        self.autoreset = autoreset

        dtype = _state_dtype(env)
        if dtype != jnp.float64:
            raise UnsupportedEnvError(
                f"{info.name}: the MJX model is {dtype}, not float64; build "
                "the Playground env after `import jacwrap` (which enables jax_enable_x64)"
            )
        devices = jax.local_devices()
        sharded = shard and len(devices) > 1 and num_envs % len(devices) == 0
        self._rows = sub_batch_size(num_envs, sharded)
        self._padded = -(-num_envs // self._rows) * self._rows
        self._auto = jacobians and solver_tangent == "auto"
        self.tangent_stats = TangentStats()
        self._compile = functools.partial(
            compiled_batch, env, self._rows, jacobians=jacobians, threshold=self.threshold
        )
        self._shard = shard
        fns = self._compile(shard=shard, tangent="auto" if self._auto else "unrolled")
        self._fns = fns
        self._sharding = fns.sharding
        self._reset = fns.reset
        self._step = fns.step
        self._merge = fns.merge
        self._states: list[Any] | None = None  # one Playground state per sub-batch
        self._s = None  # (B, n) host copy of the current state vector
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self.last_episode_length = np.zeros(num_envs, dtype=np.int64)
        self._rngs: list[np.random.Generator] = [np.random.default_rng() for _ in range(num_envs)]
        self.last_obs: np.ndarray | None = None  # (B, obs_dim): what the envs act on next
        self.last_step: BatchStep | None = None

    # -- helpers ----------------------------------------------------------------------------
    def _place(self, tree):
        return tree if self._sharding is None else jax.device_put(tree, self._sharding)

    def _split(self, rows: np.ndarray) -> list[np.ndarray]:
        """(B, ...) host rows -> the rows of each sub-batch (the padding repeats row 0)."""
        if self._padded > self.num_envs:
            pad = np.repeat(rows[:1], self._padded - self.num_envs, axis=0)
            rows = np.concatenate([rows, pad])
        k = self._rows
        return [rows[i : i + k] for i in range(0, self._padded, k)]

    def _join(self, parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts)[: self.num_envs] if len(parts) > 1 else parts[0]

    def _keys(self, seeds: np.ndarray) -> list[jax.Array]:
        make = jax.vmap(jax.random.PRNGKey)
        return [self._place(make(jnp.asarray(k))) for k in self._split(seeds)]

    def _fresh_seeds(self, which: np.ndarray) -> np.ndarray:
        seeds = np.zeros(self.num_envs, dtype=np.uint32)
        for i in np.flatnonzero(which):
            seeds[i] = self._rngs[i].integers(0, 2**32 - 1, dtype=np.uint32)
        return seeds

    # -- API --------------------------------------------------------------------------------
    @functools.cached_property
    def obs_dim(self) -> int:
        """Observation size, from an abstract trace of the jitted reset.

        The first real ``reset`` reuses that trace, so this costs no extra trace of the env
        (Playground's ``observation_size`` traces ``reset`` once more on its own).
        """
        keys = self._keys(np.zeros(self.num_envs, dtype=np.uint32))[0]
        shape = jax.eval_shape(self._reset, keys)[0].obs.shape
        if len(shape) != 2:
            raise UnsupportedEnvError(
                f"{self.info.name}: only flat array observations are supported, got {shape[1:]}"
            )
        return int(shape[1])

    @property
    def state(self) -> np.ndarray:
        """Current state vectors s, (B, n) float64."""
        if self._s is None:
            raise RuntimeError("call reset() before step()")
        return self._s

    def reset(self, seeds: list[int | None]) -> tuple[np.ndarray, np.ndarray]:
        """Reset every env; ``seeds[i]`` seeds env i (None draws fresh entropy).

        Returns (observations (B, obs_dim) float32, states (B, n) float64).
        """
        if len(seeds) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        first = np.zeros(self.num_envs, dtype=np.uint32)
        for i, seed in enumerate(seeds):
            if seed is not None:
                self._rngs[i] = np.random.default_rng(seed)
                first[i] = np.uint32(seed % 2**32)
            else:
                self._rngs[i] = np.random.default_rng()
                first[i] = self._rngs[i].integers(0, 2**32 - 1, dtype=np.uint32)
        out = [self._reset(keys) for keys in self._keys(first)]
        self._states = [self._place(state) for state, _ in out]
        obs, s = jax.device_get(([st.obs for st, _ in out], [s for _, s in out]))
        self._s = self._join(s)
        self._steps[:] = 0
        self.last_obs = np.asarray(self._join(obs), dtype=np.float32)
        self.last_step = None
        return self.last_obs.copy(), self._s.copy()

    def check_actions(self, actions: Any) -> np.ndarray:
        """Validate a (B, m) batch of actions; returns float64 NumPy (NaN allowed)."""
        return check_actions(self.info, self.num_envs, actions)

    def _auto_reset(self, states: list[Any], ended: np.ndarray, obs, reset_s) -> list[Any]:
        """Reset the envs where ``ended`` (in ``states``, ``obs`` and ``reset_s``)."""
        mask = np.zeros(self._padded, dtype=bool)
        mask[: self.num_envs] = ended
        keys = self._keys(self._fresh_seeds(ended))
        k = self._rows
        merged, fresh = [], []
        for c, state in enumerate(states):
            part = mask[c * k : (c + 1) * k]
            if not part.any():
                merged.append(state)
                fresh.append(None)
                continue
            new_state, new_s = self._reset(keys[c])
            merged.append(self._merge(self._place(jnp.asarray(part)), new_state, state))
            fresh.append((new_state.obs, new_s))
        for c, got in enumerate(jax.device_get(fresh)):
            if got is None:
                continue
            rows = np.flatnonzero(mask[c * k : (c + 1) * k]) + c * k
            obs[rows] = np.asarray(got[0], dtype=np.float32)[rows - c * k]
            reset_s[rows] = np.asarray(got[1])[rows - c * k]
        return merged

    def step(self, actions: Any) -> BatchStep:
        """Step every env with ``actions`` (B, m); auto-resets finished episodes."""
        if self._states is None:
            raise RuntimeError("call reset() before step()")
        act = self.check_actions(actions)
        prev_s = self._s
        # Dispatch every sub-batch before reading any back: XLA runs them back to back.
        parts = [self._place(jnp.asarray(a)) for a in self._split(act)]
        implicit = self._auto and self.tangent_stats.try_implicit()
        step = self._step if implicit or not self._auto else self._fns.unrolled_step()
        results = [step(st, a) for st, a in zip(self._states, parts, strict=True)]
        if implicit:
            checks = [self._fns.check(st, a) for st, a in zip(self._states, parts, strict=True)]
            results = self._redo_inexact(parts, results, checks)
        fields = [
            (r.state.obs, r.state.reward, r.state.done, r.next_state, r.jac_state)
            + (r.jac_action, r.sparsity, r.finite)
            + (r.contacts, r.contacts_start, r.n_contacts, r.n_constraints)
            for r in results
        ]
        host = [self._join(list(parts)) for parts in zip(*jax.device_get(fields), strict=True)]
        obs, reward, done, s_next, js, ja, sp, finite = host[:8]
        contacts, contacts_start, n_contacts, n_constraints = host[8:]
        obs = np.asarray(obs, dtype=np.float32)
        self._steps += 1
        terminated = np.asarray(done) > 0.5
        # A blow-up that Playground does not flag (inf) terminates too: nothing left to simulate.
        terminated |= ~np.isfinite(s_next).all(axis=1)
        truncated = (self._steps >= self.info.episode_length) & ~terminated
        ended = terminated | truncated
        self.last_episode_length[ended] = self._steps[ended]
        states = [r.state for r in results]
        final_obs = obs.copy()
        reset_s = np.array(s_next)
        if self.autoreset and ended.any():
            states = self._auto_reset(states, ended, obs, reset_s)
            self._steps[ended] = 0
        self._states = states
        self._s = reset_s
        self.last_obs = obs
        self.last_step = BatchStep(
            obs=obs,
            action=act,
            reward=np.asarray(reward, dtype=np.float64),
            terminated=terminated,
            truncated=truncated,
            state=prev_s,
            next_state=np.asarray(s_next),
            jac_state=np.asarray(js) if self.jacobians else None,
            jac_action=np.asarray(ja) if self.jacobians else None,
            sparsity=np.asarray(sp) if self.jacobians else None,
            finite=np.asarray(finite, dtype=bool),
            final_obs=final_obs,
            reset_state=reset_s,
            contacts=np.asarray(contacts, dtype=bool),
            contacts_start=np.asarray(contacts_start, dtype=bool),
            n_contacts=np.asarray(n_contacts, dtype=np.int32),
            n_constraints=np.asarray(n_constraints, dtype=np.int32),
        )
        return self.last_step

    def prepare(self) -> None:
        """Compile (or load from the caches) every step this batch may call, now.

        Under ``solver_tangent="auto"`` the unrolled step and the difference along v are
        otherwise loaded from the caches at the first step that needs them (about a second
        each; on a cold start they compile in the background). For benchmarks, and for runs
        that must not pause later. Call after :meth:`reset`.
        """
        if self._states is None:
            raise RuntimeError("call reset() before prepare()")
        if self._auto:
            actions = self._place(jnp.zeros((self._rows, self.info.nu)))
            for fn in (self._fns.unrolled_step(), self._fns.difference_along()):
                fn.lower(self._states[0], actions).compile()

    def _redo_inexact(self, parts: list[Any], results: list[Any], checks: list[Any]) -> list[Any]:
        """Auto tangents: the rows whose implicit Jacobians fail their check, unrolled."""
        out = []
        states, fns = self._states, self._fns
        exact = exact_rows(results, checks, lambda i: fns.difference_along()(states[i], parts[i]))
        for st, a, r, ok in zip(self._states, parts, results, exact, strict=True):
            redo = not np.all(ok)
            self.tangent_stats.record(redo)
            if redo:
                mask = self._place(jnp.asarray(~ok))
                r = with_unrolled_rows(r, mask, self._fns.unrolled_step()(st, a), self._merge)
            out.append(r)
        return out

    @property
    def episode_steps(self) -> np.ndarray:
        """Steps taken so far in each env's current episode, (B,)."""
        return self._steps.copy()

    def close(self) -> None:
        """Nothing to free (the compiled step is shared; :class:`jacwrap.batch_protocol.Batch`)."""
