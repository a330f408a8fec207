"""The traced-step cache (jacwrap/step_cache.py): a step loaded from disk is the traced step
bit for bit, is never served for another key, and a damaged or unusable cache only costs a
trace (README "The wrapper in an SB3 script", BENCHMARKS.md "Warm start")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacwrap  # noqa: F401  (float64)
import jacwrap.batch as batch_module
from jacwrap import step_cache
from jacwrap._jax_setup import step_cache_dir
from jacwrap.batch import EnvBatch, compiled_batch
from jacwrap.envs import PAPER_ENVS, describe, load_playground
from jacwrap.jacobians import StepResult
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD
from jacwrap.step_cache import StepCacheWarning

NAME = "CartpoleBalance"
B = 2  # the batch of tests/test_envs.py: its compiled code comes from their compile cache
SEEDS = [0, 1]
ACTIONS = np.array([[[0.7], [-0.4]], [[-0.9], [0.5]]])
FIELDS = ("obs", "reward", "next_state", "jac_state", "jac_action", "sparsity", "finite")
FIELDS += ("contacts", "contacts_start", "n_contacts", "n_constraints")


def _run(steps: int = 2) -> tuple[dict, EnvBatch]:
    """Reset a fresh CartpoleBalance batch and step it; returns the results and the batch."""
    batch_module.clear_compiled()
    env = load_playground(NAME, fresh=True)
    batch = EnvBatch(env, describe(env, NAME), B)
    obs, _ = batch.reset(SEEDS)
    out = {"reset_obs": obs}
    for t in range(steps):
        step = batch.step(ACTIONS[t])
        out.update({f"{k}{t}": np.asarray(getattr(step, k)) for k in FIELDS})
    return out, batch


def _traces(batch: EnvBatch):
    """The batch's step-cache functions (reset, step, check, unrolled: the auto tangent's),
    or None where it steps with plain jitted ones."""
    return batch._fns.traces


def _counts(fns) -> list[tuple[int, int]]:
    """(loaded, traced) of each step-cache function."""
    return [(f.loaded, f.traced) for f in fns]


def _assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k, strict=True)


def _count_env_calls(monkeypatch) -> list:
    """A list that grows by one at each call of the env class's reset or step (a trace)."""
    env_cls = type(load_playground(NAME, fresh=True))
    calls = []
    for method in ("reset", "step"):
        original = getattr(env_cls, method)
        monkeypatch.setattr(
            env_cls, method, lambda *a, _o=original, **k: calls.append(1) or _o(*a, **k)
        )
    return calls


@pytest.fixture(scope="module")
def cold(tmp_path_factory):
    """A step cache written by one traced run: (directory, that run's results)."""
    directory = tmp_path_factory.mktemp("steps")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JACWRAP_STEP_CACHE_DIR", str(directory))
        out, batch = _run()
        batch.prepare()  # cold: the unrolled step and difference compile in the background
        assert _counts(_traces(batch)) == [(0, 1)] * 5
    batch_module.clear_compiled()
    assert len(list(directory.glob("*.jwstep"))) == 5
    return directory, out


def test_loaded_step_is_bit_identical_to_the_traced_step_and_traces_nothing(cold, monkeypatch):
    directory, first = cold
    monkeypatch.setenv("JACWRAP_STEP_CACHE_DIR", str(directory))
    calls = _count_env_calls(monkeypatch)
    loaded, batch = _run()
    # Warm: reset, step and check loaded ahead; the unrolled step and the difference only
    # if a check disagrees.
    assert _counts(_traces(batch)[:3]) == [(1, 0)] * 3
    assert [f.traced for f in _traces(batch)[3:]] == [0, 0]
    assert calls == []
    assert batch._step._cache_size() == 1  # compiled ahead for the very arrays it is called on
    _assert_identical(first, loaded)

    monkeypatch.undo()
    monkeypatch.setenv("JACWRAP_STEP_CACHE_DIR", "")  # off: jax.jit traces the step itself
    traced, batch = _run()
    assert _traces(batch) is None
    _assert_identical(first, traced)
    assert np.abs(first["jac_state0"]).max() > 0.5 and (first["jac_action0"] != 0).any()


def _keys(rows: int = B):
    return jax.eval_shape(jax.vmap(jax.random.PRNGKey), jax.ShapeDtypeStruct((rows,), np.uint32))


def _found(directory: Path, rows: int = B, **options) -> bool:
    """Whether a fresh batch with these options finds the cold run's reset on disk."""
    batch_module.clear_compiled()
    env = load_playground(NAME, fresh=True)
    # EnvBatch's Jacobian step: the implicit solver tangent (its default "auto").
    kw = {"jacobians": True, "threshold": GROUND_TRUTH_THRESHOLD, "tangent": "auto", **options}
    with pytest.MonkeyPatch.context() as mp:  # look only: trace and compile nothing ahead
        mp.setattr(batch_module, "_compile_ahead", lambda *args: None)
        traces = compiled_batch(env, rows, **kw).traces
    assert traces is not None and traces[0].directory == directory
    return traces[0].preload(_keys(rows)) is not None


def test_another_version_option_or_output_is_never_served_stale(cold, monkeypatch):
    directory, _ = cold
    monkeypatch.setenv("JACWRAP_STEP_CACHE_DIR", str(directory))
    assert _found(directory)  # the same key: found
    # NumPy's 2 is the same batch (a worker's share of np.linspace bounds was np.int64)
    assert _found(directory, rows=np.int64(B))
    assert not _found(directory, threshold=1e-6)
    assert not _found(directory, jacobians=False)
    assert not _found(directory, rows=B + 1)
    real = step_cache.versions()
    monkeypatch.setattr(step_cache, "versions", lambda: {**real, "jax": "0.0.1"})
    assert not _found(directory)
    monkeypatch.undo()
    monkeypatch.setenv("JACWRAP_STEP_CACHE_DIR", str(directory))
    # A new output of the step (e.g. another contact field) is another key.
    monkeypatch.setattr(StepResult, "_fields", (*StepResult._fields, "new_output"))
    assert not _found(directory)
    monkeypatch.undo()
    monkeypatch.setenv("JACWRAP_STEP_CACHE_DIR", str(directory))
    flag = jax.config.jax_threefry_partitionable  # a setting that changes how reset traces
    jax.config.update("jax_threefry_partitionable", not flag)
    try:
        assert not _found(directory)
    finally:
        jax.config.update("jax_threefry_partitionable", flag)
    batch_module.clear_compiled()


def test_another_env_config_or_model_is_another_key():
    env = load_playground(NAME, fresh=True)
    options = {"rows": B}
    code = [batch_module]
    same = step_cache.base_key(load_playground(NAME, fresh=True), options, code)
    assert step_cache.base_key(env, options, code) == same
    coarser = load_playground(NAME, fresh=True, ctrl_dt=0.02)
    assert step_cache.base_key(coarser, options, code)["env"]["config"] != same["env"]["config"]
    env.mj_model.opt.timestep *= 2  # the model is hashed, not just the task's name
    assert step_cache.base_key(env, options, code)["env"]["model"] != same["env"]["model"]
    env.reset = env.reset  # replaced on the instance: not describable by class and config
    assert step_cache.base_key(env, options, code) is None


def _programs(env) -> tuple[str, str]:
    """StableHLO of a Playground env's own reset and step (one env, no jacwrap code)."""
    key = jax.random.PRNGKey(0)
    state = jax.eval_shape(env.reset, key)
    action = jax.ShapeDtypeStruct((env.action_size,), jnp.float64)
    return jax.jit(env.reset).lower(key).as_text(), jax.jit(env.step).lower(state, action).as_text()


_OTHER_TASKS = [t for t in PAPER_ENVS if t != NAME]


@pytest.mark.parametrize(
    "name", [NAME, *(pytest.param(t, marks=pytest.mark.slow) for t in _OTHER_TASKS)]
)
def test_every_episode_length_shares_the_key_because_no_program_reads_it(name):
    """jacwrap truncates episodes on the host, so the key leaves Playground's episode_length
    out (step_cache.UNTRACED_CONFIG); what makes that right: reset and step trace to the
    same programs whatever the length, and not whatever the control period."""
    env = load_playground(name, fresh=True)
    longer = load_playground(name, fresh=True, episode_length=7)
    options, code = {"rows": B}, [batch_module]
    assert step_cache.base_key(longer, options, code) == step_cache.base_key(env, options, code)
    assert longer._config.episode_length == 7  # the env itself keeps the user's config
    assert _programs(longer) == _programs(env)
    coarser = load_playground(name, fresh=True, ctrl_dt=2 * env._config.ctrl_dt)
    assert _programs(coarser)[1] != _programs(env)[1]


def test_the_step_source_is_part_of_the_key(tmp_path):
    env = load_playground(NAME)
    copy = tmp_path / "jacobians.py"
    shutil.copy(batch_module.__file__, copy)
    module = types.SimpleNamespace(__file__=str(copy))
    before = step_cache.base_key(env, {}, [module])["code"]
    copy.write_text(copy.read_text() + "\n# an edit\n")
    assert step_cache.base_key(env, {}, [module])["code"] != before


def _damage(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


def test_a_damaged_entry_warns_is_traced_again_and_rewritten(cold, tmp_path, monkeypatch):
    directory, first = cold
    monkeypatch.setenv("JACWRAP_STEP_CACHE_DIR", str(tmp_path))  # empty: nothing compiled ahead
    batch_module.clear_compiled()
    env = load_playground(NAME, fresh=True)
    kw = {"jacobians": True, "threshold": GROUND_TRUTH_THRESHOLD, "tangent": "auto"}
    traces = compiled_batch(env, B, **kw).traces
    key, _ = step_cache.call_key(traces[0].parts, (_keys(),))  # the reset's entry
    for f in directory.glob("*.jwstep"):
        shutil.copy(f, tmp_path / f.name)
    path = tmp_path / f"{key}.jwstep"
    _damage(path)
    with pytest.warns(StepCacheWarning, match="checksum mismatch"):
        out, batch = _run(steps=1)
    assert _counts(_traces(batch)[:3]) == [(0, 1), (1, 0), (1, 0)]
    for k in out:
        np.testing.assert_array_equal(out[k], first[k], strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten entry reads cleanly
        assert _found(tmp_path)
    batch_module.clear_compiled()


def test_a_cache_that_cannot_be_read_or_written_only_costs_a_trace(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("JACWRAP_STEP_CACHE_DIR", str(blocker / "steps"))
    batch_module.clear_compiled()
    env = load_playground(NAME, fresh=True)
    with pytest.warns(StepCacheWarning) as caught:
        batch = EnvBatch(env, describe(env, NAME), B)
        obs, _ = batch.reset(SEEDS)
    messages = " ".join(str(w.message) for w in caught)
    assert "cannot read" in messages and "cannot write" in messages
    assert obs.shape == (B, 5) and np.isfinite(obs).all()
    assert _traces(batch)[0].traced == 1
    batch_module.clear_compiled()


def test_entry_files_round_trip_and_reject_damage(tmp_path):
    def fn(x, d):
        return {"y": x * 2.0, "z": (d["a"] + 1, d["b"].sum())}

    args = (jnp.arange(3.0), {"a": jnp.ones(2), "b": jnp.eye(2)})
    entry = step_cache.export_entry(fn, args)
    key, parts = step_cache.call_key({"fn": "toy"}, args)
    assert step_cache.save(tmp_path, key, parts, entry)
    loaded = step_cache.load(tmp_path, key, parts)
    got, want = loaded.call(*args), fn(*args)
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(g, w, strict=True)
    with pytest.raises(ValueError, match="exported for"):
        loaded.call(jnp.arange(3.0), {"a": jnp.ones(2)})

    path = tmp_path / f"{key}.jwstep"
    good = path.read_bytes()
    assert step_cache.load(tmp_path, "absent", parts) is None  # a miss is silent
    for damaged, why in [
        (good[: len(good) // 2], "checksum"),
        (b"garbage" + good, "not a jacwrap step-cache file"),
        (good[:-1] + bytes([good[-1] ^ 1]), "checksum"),
    ]:
        path.write_bytes(damaged)
        with pytest.warns(StepCacheWarning, match=why):
            assert step_cache.load(tmp_path, key, parts) is None
    path.write_bytes(good)
    with pytest.warns(StepCacheWarning, match="another step"):
        assert step_cache.load(tmp_path, key, {**parts, "fn": "other"}) is None


def test_a_cached_function_calls_lowers_and_traces_like_a_jitted_one(tmp_path):
    def fn(x, d):
        return {"y": jnp.sin(x) * d["a"], "z": d["a"].sum()}

    args = (jnp.linspace(0.0, 1.0, 4), {"a": jnp.full(4, 3.0)})
    cached = step_cache.CachedFunction(fn, {"fn": "toy"}, tmp_path)
    got = cached(*args)
    assert (cached.loaded, cached.traced, cached._cache_size()) == (0, 1, 1)
    shapes = jax.eval_shape(cached, *args)  # traceable, as EnvBatch.obs_dim needs
    assert shapes["y"].shape == (4,) and cached.traced == 1
    again = step_cache.CachedFunction(fn, {"fn": "toy"}, tmp_path)  # a later process
    structs = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), args)
    again.lower(*structs).compile()
    assert (again.loaded, again.traced) == (1, 0)  # loaded, not traced
    for g, w in zip(jax.tree.leaves(again(*args)), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(g, w, strict=True)
    assert again._cache_size() == 1  # called with what it was compiled for
    want = jax.jit(fn)(*args)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(g, w, strict=True)


def test_a_cached_function_serves_each_shape_its_own_entry(tmp_path):
    # Calls with the same tree but other shapes or dtypes, alternating: each gets the
    # program exported for it (the per-tree fast path must not serve the last one).
    def fn(x):
        return {"y": x * 2 + x.shape[0]}

    cached = step_cache.CachedFunction(fn, {"fn": "toy"}, tmp_path)
    calls = [jnp.arange(3.0), jnp.arange(5.0), jnp.arange(3, dtype=jnp.int32), jnp.arange(3.0)]
    for x in calls + calls[::-1]:
        got = cached(x)["y"]
        np.testing.assert_array_equal(got, fn(x)["y"], strict=True)
    assert (cached.traced, len(cached.keys)) == (3, 3)


class _Static:
    """Static pytree data whose repr names its address (as MJX's array wrappers do)."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __eq__(self, other):
        return np.array_equal(self.array, other.array)

    def __hash__(self):
        return hash(self.array.tobytes())


jax.tree_util.register_pytree_node(
    _Static,
    lambda s: ((), s),
    lambda aux, _: aux,
)


def test_tree_text_is_the_same_for_equal_trees_and_differs_for_others():
    def tree(values):
        return jax.tree.structure({"x": 1, "s": _Static(np.array(values))})

    a, b = tree([1, 2]), tree([1, 2])
    assert "0x" in str(a) and str(a) != str(b)  # why str() cannot key the cache
    assert step_cache.tree_text(a) == step_cache.tree_text(b)
    assert step_cache.tree_digest(a) != step_cache.tree_digest(tree([1, 3]))
    assert step_cache.tree_text(jax.tree.structure((1, [2]))) != step_cache.tree_text(
        jax.tree.structure([1, (2,)])
    )


def test_cache_dir_follows_the_compile_cache_unless_set(monkeypatch, tmp_path):
    monkeypatch.setenv("JACWRAP_STEP_CACHE_DIR", str(tmp_path))
    assert step_cache_dir() == tmp_path
    monkeypatch.setenv("JACWRAP_STEP_CACHE_DIR", " ")
    assert step_cache_dir() is None
    monkeypatch.delenv("JACWRAP_STEP_CACHE_DIR")
    compile_dir = jax.config.jax_compilation_cache_dir
    assert step_cache_dir() == (Path(compile_dir) / "jacwrap-steps" if compile_dir else None)


def test_building_an_env_imports_neither_warp_nor_torch_and_prints_nothing():
    code = (
        "import sys, jacwrap\n"
        "from jacwrap.envs import load_playground\n"
        "load_playground('CartpoleBalance')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('warp', 'torch')))\n"
        "import warp\n"  # still importable afterwards
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


# -- prefetch: the compiled step loaded while Playground is imported ---------------------------
ORIGIN = (NAME, "{}")  # what load_playground(NAME) is indexed under (no config overrides)


@pytest.fixture(scope="module")
def cold_index(cold):
    """The index record the cold run wrote: its first batch (B rows, Jacobians, default
    threshold). Each test below writes it back: other tests' batches re-index."""
    record = step_cache.read_index(cold[0], ORIGIN)
    assert record is not None and record.rows == B and record.nu == 1
    return record


@pytest.fixture
def indexed(cold, cold_index, monkeypatch):
    directory = cold[0]
    monkeypatch.setenv("JACWRAP_STEP_CACHE_DIR", str(directory))
    step_cache.clear_prefetches()
    batch_module.clear_compiled()
    assert step_cache.write_index(directory, ORIGIN, cold_index)
    yield directory
    step_cache.clear_prefetches()
    batch_module.clear_compiled()


def test_a_prefetched_start_is_the_traced_step_bit_for_bit(cold, indexed, monkeypatch):
    job = step_cache.prefetch(indexed, ORIGIN)
    assert job is not None and step_cache.prefetch(indexed, ORIGIN) is None  # once a process
    calls = _count_env_calls(monkeypatch)
    out, batch = _run()
    fns = _traces(batch)
    assert all(f.prefetched for f in fns[:3]) and job.compiled
    assert fns[:3] == job.functions  # the batch calls the prefetch's reset, step and check
    assert _counts(fns[:3]) == [(1, 0)] * 3 and [f.traced for f in fns[3:]] == [0, 0]
    assert calls == []
    assert batch._step._cache_size() == 1  # compiled in the background for these arrays
    _assert_identical(cold[1], out)


def test_a_prefetch_of_another_batch_is_cancelled_and_never_served(indexed):
    job = step_cache.prefetch(indexed, ORIGIN)  # guesses the cold run's batch
    env = load_playground(NAME, fresh=True)
    info = describe(env, NAME)
    other = _traces(EnvBatch(env, info, B, threshold=1e-6))  # another key
    assert job.cancelled and not any(f.prefetched for f in other)
    assert not set(other) & set(job.functions)
    job.thread.join()
    # The guessed batch, built next, loads as without a prefetch: the cancelled one is gone.
    same = _traces(EnvBatch(env, info, B))
    assert not same[1].prefetched and same[1] is not job.functions[1]
    assert same[1].loaded == 1


PREFETCH_SCRIPT = f"""
import hashlib, json, sys, threading
import numpy as np
imports = []  # (thread, module) of every import from here on

class Spy:
    def find_spec(self, name, path=None, target=None):
        imports.append((threading.current_thread().name, name))
        return None

sys.meta_path.insert(0, Spy())
import jacwrap
from jacwrap.batch import EnvBatch
from jacwrap.envs import PAPER_ENVS, describe, load_playground
env = load_playground({NAME!r})
batch = EnvBatch(env, describe(env, {NAME!r}), {B})
obs, _ = batch.reset({SEEDS!r})
step = batch.step(np.array({ACTIONS[0].tolist()!r}))
print(json.dumps({{
    "prefetched": [batch._reset.prefetched, batch._step.prefetched],
    "thread_imports": [m for t, m in imports if t.startswith("jacwrap-")],
    "imports": len(imports),
    "obs": obs.tolist(), "jac_state": step.jac_state.tolist(),
}}))
"""


def test_a_new_process_prefetches_bit_for_bit_and_its_thread_imports_nothing(cold, indexed):
    environ = {**os.environ, "JACWRAP_STEP_CACHE_DIR": str(indexed)}
    out = subprocess.run(
        [sys.executable, "-c", PREFETCH_SCRIPT],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["prefetched"] == [True, True]
    assert got["imports"] > 100  # the spy saw Playground's import
    assert got["thread_imports"] == []  # imports in two threads at once can deadlock
    obs, jac_state = np.array(got["obs"], np.float32), np.array(got["jac_state"])
    np.testing.assert_array_equal(obs, cold[1]["reset_obs"], strict=True)
    np.testing.assert_array_equal(jac_state, cold[1]["jac_state0"], strict=True)


def test_a_damaged_index_is_ignored_with_a_warning_and_rewritten(indexed, cold_index):
    path = indexed / f"{step_cache.origin_key(ORIGIN)}.jwindex"
    good = path.read_text()
    data = json.loads(good)
    for damaged, why in [
        (good[: len(good) // 2], "ignoring index"),
        (json.dumps({**data, "origin": [NAME, '{"episode_length": 7}']}), "another task"),
        (json.dumps({**data, "rows": "3"}), "integers"),
        (json.dumps({k: v for k, v in data.items() if k != "parts"}), "parts"),
        (json.dumps({**data, "files": data["files"][:2]}), "one entry file per function"),
    ]:
        path.write_text(damaged)
        with pytest.warns(StepCacheWarning, match=why):
            assert step_cache.prefetch(indexed, ORIGIN) is None
        step_cache.clear_prefetches()
    with pytest.warns(StepCacheWarning, match="ignoring index"):
        env = load_playground(NAME, fresh=True)  # its prefetch reads the damaged index
    traces = _traces(EnvBatch(env, describe(env, NAME), B))
    assert traces[1].loaded == 1 and not traces[1].prefetched  # loaded as before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert step_cache.read_index(indexed, ORIGIN) == cold_index  # rewritten by the batch
