"""A batch of environments stepped in one compiled call: the stateful core of every adapter.

:class:`EnvBatch` owns the Playground states of ``num_envs`` environments, steps them with
one jitted, vmapped function (Jacobians included or not), truncates episodes at the task's
episode length and auto-resets finished environments in the same step (Gymnasium's
``SAME_STEP`` mode; the final observation is kept). The single-env, vector-env and SB3
adapters are thin layers over it, so all three compute exactly the same thing.

Batching: the batch axis is sharded over all local JAX devices when it divides evenly
(on CPU, start Python with ``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>``
to get one device per core). Reset states are cast to the exact array types that the
step returns, so the step compiles once, not again on its own output or at auto-reset.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jacwrap.envs import EnvInfo
from jacwrap.errors import ActionError, UnsupportedEnvError
from jacwrap.jacobians import jacobian_step, plain_step, state_vector
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD


@dataclass
class BatchStep:
    """Host (NumPy) results of one batched step; arrays have a leading batch axis B.

    ``state`` is s (before the step) and ``next_state`` s' (after, before any auto-reset).
    ``obs`` is the observation to act on next: the reset observation where an episode ended
    (then ``final_obs`` holds the last observation of the finished episode).
    """

    obs: np.ndarray  # (B, obs_dim) float32
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
    """

    env: Any
    reset: Callable
    step: Callable
    merge: Callable
    sharding: Any


#: (id(env), num_envs, jacobians, threshold, shard) -> CompiledBatch. Envs built one at a time
#: (``gymnasium.make`` N times, SB3's ``make_vec_env``, ``SyncVectorEnv``) share one entry,
#: so N envs cost one trace and one compile. Entries hold their env, so ids are never reused.
_COMPILED: dict[tuple, CompiledBatch] = {}
_COMPILED_MAX = 64


def clear_compiled() -> None:
    """Forget every shared compiled step (the next batch traces again)."""
    _COMPILED.clear()


def compiled_batch(
    env: Any, num_envs: int, *, jacobians: bool, threshold: float, shard: bool = True
) -> CompiledBatch:
    """The shared :class:`CompiledBatch` of ``num_envs`` copies of ``env`` (built once)."""
    key = (id(env), num_envs, bool(jacobians), float(threshold), bool(shard))
    hit = _COMPILED.get(key)
    if hit is not None and hit.env is env:
        return hit
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.pop(next(iter(_COMPILED)))
    entry = _build_compiled(env, num_envs, jacobians, float(threshold), shard)
    _COMPILED[key] = entry
    return entry


def _build_compiled(
    env: Any, num_envs: int, jacobians: bool, threshold: float, shard: bool
) -> CompiledBatch:
    def one(st, a):
        if jacobians:
            return jacobian_step(env, st, a, threshold)
        return plain_step(env, st, a)

    def reset(keys):
        st = jax.vmap(env.reset)(keys)
        st = _strong_types(st)
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
    return CompiledBatch(
        env=env,
        reset=jax.jit(reset, **sh),
        step=jax.jit(jax.vmap(one), **sh),
        merge=jax.jit(merge, **sh),
        sharding=sharding,
    )


class EnvBatch:
    """``num_envs`` copies of a Playground env stepped together (see module docstring)."""

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
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
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
        fns = compiled_batch(
            env, num_envs, jacobians=jacobians, threshold=self.threshold, shard=shard
        )
        self._sharding = fns.sharding
        self._reset = fns.reset
        self._step = fns.step
        self._merge = fns.merge
        self._state = None
        self._s = None  # (B, n) host copy of the current state vector
        self._obs = None
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self.last_episode_length = np.zeros(num_envs, dtype=np.int64)
        self._rngs: list[np.random.Generator] = [np.random.default_rng() for _ in range(num_envs)]

    # -- helpers ----------------------------------------------------------------------------
    def _place(self, tree):
        return tree if self._sharding is None else jax.device_put(tree, self._sharding)

    def _keys(self, which: np.ndarray) -> jax.Array:
        seeds = np.zeros(self.num_envs, dtype=np.uint32)
        for i in np.flatnonzero(which):
            seeds[i] = self._rngs[i].integers(0, 2**32 - 1, dtype=np.uint32)
        return jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds))

    # -- API --------------------------------------------------------------------------------
    @functools.cached_property
    def obs_dim(self) -> int:
        """Observation size, from an abstract trace of the jitted reset.

        The first real ``reset`` reuses that trace, so this costs no extra trace of the env
        (Playground's ``observation_size`` traces ``reset`` once more on its own).
        """
        keys = jax.vmap(jax.random.PRNGKey)(jnp.zeros(self.num_envs, dtype=jnp.uint32))
        shape = jax.eval_shape(self._reset, self._place(keys))[0].obs.shape
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
        keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(first))
        state, s = self._reset(self._place(keys))
        self._state = self._place(state)
        obs, s = jax.device_get((state.obs, s))
        self._obs = np.asarray(obs, dtype=np.float32)
        self._s = np.asarray(s)
        self._steps[:] = 0
        return self._obs.copy(), self._s.copy()

    def check_actions(self, actions: Any) -> np.ndarray:
        """Validate a (B, m) batch of actions; returns float64 NumPy (NaN allowed)."""
        return check_actions(self.info, self.num_envs, actions)

    def step(self, actions: Any) -> BatchStep:
        """Step every env with ``actions`` (B, m); auto-resets finished episodes."""
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        act = self.check_actions(actions)
        prev_s = self._s
        res = self._step(self._state, self._place(jnp.asarray(act)))
        host = jax.device_get(
            (
                res.state.obs,
                res.state.reward,
                res.state.done,
                res.next_state,
                res.jac_state,
                res.jac_action,
                res.sparsity,
                res.finite,
            )
        )
        obs, reward, done, s_next, js, ja, sp, finite = host
        obs = np.asarray(obs, dtype=np.float32)
        self._steps += 1
        terminated = np.asarray(done) > 0.5
        # A blow-up that Playground does not flag (inf) terminates too: nothing left to simulate.
        terminated |= ~np.isfinite(s_next).all(axis=1)
        truncated = (self._steps >= self.info.episode_length) & ~terminated
        ended = terminated | truncated
        self.last_episode_length[ended] = self._steps[ended]
        state = res.state
        final_obs = obs.copy()
        reset_s = np.array(s_next)
        if self.autoreset and ended.any():
            new_state, new_s = self._reset(self._place(self._keys(ended)))
            mask = self._place(jnp.asarray(ended))
            state = self._merge(mask, new_state, state)
            new_obs, new_s = jax.device_get((new_state.obs, new_s))
            obs[ended] = np.asarray(new_obs, dtype=np.float32)[ended]
            reset_s[ended] = np.asarray(new_s)[ended]
            self._steps[ended] = 0
        self._state = state
        self._s = reset_s
        self._obs = obs
        return BatchStep(
            obs=obs,
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
        )

    @property
    def episode_steps(self) -> np.ndarray:
        """Steps taken so far in each env's current episode, (B,)."""
        return self._steps.copy()
