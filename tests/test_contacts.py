"""Each step's contact and constraint state (jacwrap.contacts) against MuJoCo C.

The oracle: MuJoCo C on the same state. ``mj_forward`` on s gives the start mask (its
``d.contact`` pairs); stepping C substep by substep from s (the step's ctrl and the env's
warm start) gives each substep's contacts (``d.contact``, ``d.ncon``) and constraint rows
(``d.nefc``), whose union and maxima the step's summary must equal. Those are compared on
the steps where C's next state is MJX's (to :data:`SAME_STEP`): elsewhere the two
simulations take different paths within the step. Fast checks use a toy ball/arm/floor env
and ReacherHard's wrist limit; CheetahRun and BallInCup are ``slow``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from ml_collections import config_dict
from mujoco import mjx
from mujoco_playground._src import mjx_env

from jacwrap import contacts
from jacwrap.batch import EnvBatch, compiled_batch
from jacwrap.envs import describe, load_playground
from jacwrap.errors import UnsupportedEnvError
from jacwrap.jacobians import jacobian_step, plain_step
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD

#: C and MJX take the same path through the step: next states equal to this (absolute).
#: A contact that one simulation has and the other lacks for even one substep moves qvel by
#: about g h (2e-2 at BallInCup's h = 2 ms) or an impact's worth, far above it; below it lie
#: what the two solvers leave: 2e-14 (CheetahRun), 1.7e-6 (the toy's resting contacts),
#: up to 4e-3 on some BallInCup contact steps (one solver iteration), which are skipped.
SAME_STEP = 1e-4

H, SUBSTEPS = 0.004, 5
TOY_XML = f"""
<mujoco model="ball-arm-floor">
  <option timestep="{H}"/>
  <worldbody>
    <geom name="floor" type="plane" size="1 1 .1" friction="0.1"/>
    <body name="ball" pos="0 0 0.3">
      <joint name="ball_x" type="slide" axis="1 0 0"/>
      <joint name="ball_z" type="slide" axis="0 0 1"/>
      <geom name="ball" type="sphere" size=".05" mass="1" friction="0.1"/>
    </body>
    <body name="arm" pos="0.3 0 0.15">
      <joint name="hinge" type="hinge" axis="0 1 0" limited="true" range="-20 20" damping="0.05"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.1" size=".02" mass=".2" priority="1" condim="1"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="push" joint="ball_x" gear="5" ctrllimited="true" ctrlrange="-1 1"/>
    <motor name="turn" joint="hinge" gear=".2" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""
TOY_PAIRS = ("floor:ball", "floor:arm#2", "ball:arm#2")  # the arm's geom has no name


class BallArmEnv(mjx_env.MjxEnv):
    """A Playground-style env: a ball pushed along the floor into a hinged arm with limits."""

    def __init__(self, xml: str = TOY_XML):
        cfg = config_dict.create(ctrl_dt=H * SUBSTEPS, sim_dt=H, episode_length=100, impl="jax")
        super().__init__(cfg)
        self._mj_model = mujoco.MjModel.from_xml_string(xml)
        self._mjx_model = mjx.put_model(self._mj_model, impl="jax")

    def reset(self, rng):
        data = mjx_env.make_data(self._mj_model, impl="jax")
        data = mjx.forward(self._mjx_model, data)
        obs = jnp.concatenate([data.qpos, data.qvel])
        return mjx_env.State(data, obs, jnp.zeros(()), jnp.zeros(()), {}, {})

    def step(self, state, action):
        data = mjx_env.step(self._mjx_model, state.data, action, self.n_substeps)
        obs = jnp.concatenate([data.qpos, data.qvel])
        return mjx_env.State(data, obs, data.qpos[0], jnp.zeros(()), state.metrics, state.info)

    @property
    def xml_path(self):
        return ""

    @property
    def action_size(self):
        return 2

    @property
    def mj_model(self):
        return self._mj_model

    @property
    def mjx_model(self):
        return self._mjx_model


# -- MuJoCo C ---------------------------------------------------------------------------


def pair_index(model) -> dict[frozenset, int]:
    lay = contacts.layout(model)
    return {frozenset(p): i for i, p in enumerate(zip(lay.geom1, lay.geom2, strict=True))}


def c_mask(model, data, index) -> np.ndarray:
    mask = np.zeros(len(index), dtype=bool)
    for c in data.contact[: data.ncon]:
        mask[index[frozenset((int(c.geom1), int(c.geom2)))]] = True
    return mask


def c_forward(model, s: np.ndarray, index) -> tuple[np.ndarray, int, int]:
    """(pair mask, ncon, nefc) of ``mj_forward`` on s."""
    d = mujoco.MjData(model)
    d.qpos[:], d.qvel[:] = s[: model.nq], s[model.nq :]
    mujoco.mj_forward(model, d)
    return c_mask(model, d, index), int(d.ncon), int(d.nefc)


@dataclass
class CStep:
    masks: np.ndarray  # (substeps, P)
    ncon: np.ndarray  # (substeps,)
    nefc: np.ndarray  # (substeps,)
    next_state: np.ndarray


def c_substeps(model, s, ctrl, warm, n_substeps, index) -> CStep:
    """MuJoCo C's env step from s, one ``mj_step`` at a time."""
    d = mujoco.MjData(model)
    d.qpos[:], d.qvel[:], d.ctrl[:] = s[: model.nq], s[model.nq :], ctrl
    d.qacc_warmstart[:] = warm
    masks, ncon, nefc = [], [], []
    for _ in range(n_substeps):
        mujoco.mj_step(model, d)  # forward at the substep's start state, then integrate
        masks.append(c_mask(model, d, index))
        ncon.append(d.ncon)
        nefc.append(d.nefc)
    return CStep(np.array(masks), np.array(ncon), np.array(nefc), np.r_[d.qpos, d.qvel])


# -- jacwrap rollouts -------------------------------------------------------------------


@dataclass
class Step:
    state: np.ndarray  # s
    warm: np.ndarray  # qacc_warmstart before the step
    action: np.ndarray
    out: dict[str, np.ndarray]  # the StepResult's arrays (row 0)
    before: Any  # the batched (1, ...) Playground state before the step


FIELDS = ("next_state", "jac_state", "jac_action", "contacts", "contacts_start")
FIELDS += ("n_contacts", "n_constraints")


def rollout(env, state, actions, jacobians=True) -> list[Step]:
    """Step the (1, ...) ``state`` through the compiled batch-of-1 step that the wrapper uses."""
    fns = compiled_batch(env, 1, jacobians=jacobians, threshold=GROUND_TRUTH_THRESHOLD)
    steps = []
    for a in np.asarray(actions, dtype=np.float64):
        res = fns.step(state, jnp.asarray(a[None]))
        d = state.data
        q, v, w, out = jax.device_get((d.qpos[0], d.qvel[0], d.qacc_warmstart[0], res))
        fields = {k: np.asarray(getattr(out, k)[0]) for k in FIELDS}
        steps.append(Step(np.r_[q, v], np.asarray(w), a, fields, state))
        state = res.state
    return steps


def reset(env, seed=0):
    fns = compiled_batch(env, 1, jacobians=True, threshold=GROUND_TRUTH_THRESHOLD)
    return fns.reset(jax.vmap(jax.random.PRNGKey)(jnp.asarray([seed], dtype=jnp.uint32)))[0]


def compare_with_c(model, n_substeps, steps: list[Step]) -> list[int]:
    """Check every step against C; returns the steps compared substep by substep."""
    index = pair_index(model)
    compared = []
    for t, st in enumerate(steps):
        o = st.out
        start, _, _ = c_forward(model, st.state, index)
        assert o["contacts_start"].tolist() == start.tolist(), t  # same s: always comparable
        assert not (o["contacts_start"] & ~o["contacts"]).any(), t  # the union holds the start
        c = c_substeps(model, st.state, st.action, st.warm, n_substeps, index)
        assert c.masks[0].tolist() == start.tolist(), t
        if np.max(np.abs(c.next_state - o["next_state"])) > SAME_STEP:
            continue
        compared.append(t)
        assert o["contacts"].tolist() == c.masks.any(axis=0).tolist(), t
        assert (int(o["n_contacts"]), int(o["n_constraints"])) == (c.ncon.max(), c.nefc.max()), t
    return compared


def assert_bit_identical_without_contacts(env, steps: list[Step], jacobians=True) -> None:
    """The step with the contact outputs computes what the step without them does: the next
    state and the Jacobians bit for bit, the rest of the simulator data to round-off (a
    single substep is called directly, not as Playground's scan of length one, which XLA
    may fuse differently: CheetahRun's ``subtree_angmom`` differs by 1e-16 on some steps)."""
    if jacobians:
        one = lambda st, a: jacobian_step(env, st, a, GROUND_TRUTH_THRESHOLD, contacts=False)  # noqa: E731
    else:
        one = lambda st, a: plain_step(env, st, a, contacts=False)  # noqa: E731
    off = jax.jit(jax.vmap(one))
    on = compiled_batch(env, 1, jacobians=jacobians, threshold=GROUND_TRUTH_THRESHOLD).step
    for st in steps:
        a = jnp.asarray(st.action[None])
        r_on, r_off = jax.device_get((on(st.before, a), off(st.before, a)))
        assert r_off.contacts.shape == (1, 0) and r_off.n_contacts.tolist() == [-1]
        pairs = zip(jax.tree.leaves(r_on.state), jax.tree.leaves(r_off.state), strict=True)
        for x, y in pairs:
            if np.issubdtype(np.asarray(x).dtype, np.floating):
                np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
            else:
                assert np.array_equal(x, y)
        for k in ("next_state", "jac_state", "jac_action", "sparsity", "finite"):
            assert np.array_equal(getattr(r_on, k), getattr(r_off, k), equal_nan=True), k


@pytest.fixture(scope="module")
def toy():
    """One toy env object for the module: its compiled steps are shared between the tests."""
    return BallArmEnv()


# -- fast: labels, the pure function, the capture ---------------------------------------


def test_pair_labels_follow_mjx_and_name_unnamed_geoms_by_body(toy):
    assert contacts.contact_pairs(toy.mj_model) == TOY_PAIRS
    cheetah = describe(load_playground("CheetahRun"), "CheetahRun").contact_pairs
    assert {"ground:bfoot", "ground:ffoot", "torso:bshin"} <= set(cheetah)
    assert len(cheetah) == len(set(cheetah)) == 27  # 8 ground pairs + 19 body pairs
    # Contacts disabled (ReacherHard) or all constraints (AcrobotSwingup): no pairs, as in C.
    assert describe(load_playground("ReacherHard"), "ReacherHard").contact_pairs == ()
    assert contacts.contact_pairs(load_playground("AcrobotSwingup").mj_model) == ()


@pytest.fixture(scope="module")
def toy_forward(toy):
    """jit(q, v -> (the slots' geoms, constraint_state)) of ``mjx.forward`` on the toy."""
    lay = contacts.layout(toy.mj_model)

    def fwd(q, v):
        data = mjx_env.make_data(toy.mj_model, impl="jax").replace(qpos=q, qvel=v)
        data = mjx.forward(toy.mjx_model, data)
        return data._impl.contact.geom, contacts.constraint_state(lay, data)

    return jax.jit(fwd)


def test_every_contact_slot_of_mjx_maps_onto_a_pair(toy, toy_forward):
    slots, _ = toy_forward(jnp.zeros(3), jnp.zeros(3))
    lay = contacts.layout(toy.mj_model)
    assert len(slots) == 1 + 2 + 1  # plane/sphere 1, plane/capsule 2, sphere/capsule 1
    slot_pairs = {tuple(int(g) for g in row) for row in np.asarray(slots)}
    assert slot_pairs == set(zip(lay.geom1, lay.geom2, strict=True))


def test_state_of_one_forward_agrees_with_mujoco_c(toy, toy_forward):
    model = toy.mj_model
    index = pair_index(model)
    r = np.radians
    cases = {  # (ball_x, ball_z, hinge), qvel: what C must find
        "free": ([0.0, 0.0, 0.0], ()),
        "ball on floor": ([0.0, -0.2505, 0.0], ("floor:ball",)),
        "ball at arm": ([0.232, -0.2, 0.0], ("ball:arm#2",)),
        "arm at limit, ball on floor and arm": ([0.232, -0.2505, r(20.5)], ("floor:ball",)),
    }
    seen_rows = set()
    for name, (q, expect) in cases.items():
        q = np.asarray(q)
        v = np.array([0.1, -0.2, 0.3])
        mask, ncon, nefc = c_forward(model, np.r_[q, v], index)
        got = jax.device_get(toy_forward(jnp.asarray(q), jnp.asarray(v))[1])
        assert {TOY_PAIRS[i] for i in np.flatnonzero(mask)} >= set(expect), name
        assert got.contacts.tolist() == mask.tolist(), name
        assert got.contacts_start.tolist() == mask.tolist(), name
        assert (int(got.n_contacts), int(got.n_constraints)) == (ncon, nefc), name
        seen_rows.add((ncon, nefc))
    # Rows: 4 a floor contact (condim 3, pyramidal), 1 at the arm (condim 1), 1 the limit.
    assert seen_rows == {(0, 0), (1, 4), (1, 1), (2, 6)}


def test_toy_rollout_agrees_with_c_and_the_step_is_unchanged(toy):
    env = toy
    steps = rollout(env, reset(env), np.tile([1.0, -0.6], (40, 1)))
    compared = compare_with_c(env.mj_model, SUBSTEPS, steps)
    assert len(compared) >= 30
    sets = [tuple(s.out["contacts"]) for s in steps]
    assert len(set(sets)) >= 3  # free fall, on the floor, at the arm
    assert any(s.out["contacts"][2] for s in steps)  # ball:arm
    # A step that changes contacts within it: the union is more than its start.
    assert any((s.out["contacts"] & ~s.out["contacts_start"]).any() for s in steps)
    assert_bit_identical_without_contacts(env, steps[::8])


def test_batch_step_carries_the_contact_state(toy):
    env = toy
    info = describe(env, "BallArm")
    assert info.contact_pairs == TOY_PAIRS
    batch = EnvBatch(env, info, 1)  # the compiled batch-of-1 step of the rollout above
    batch.reset([0])
    acts = np.tile([1.0, -0.6], (12, 1))
    steps = rollout(env, reset(env), acts)
    for a, st in zip(acts, steps, strict=True):
        out = batch.step(a[None])
        assert out.contacts.dtype == bool and out.contacts.shape == (1, 3)
        assert out.n_contacts.dtype == np.int32 and out.n_constraints.shape == (1,)
        for k in ("contacts", "contacts_start", "n_contacts", "n_constraints"):
            assert getattr(out, k)[0].tolist() == st.out[k].tolist(), k


def test_reacher_wrist_limit_counts_as_c_counts():
    env = load_playground("ReacherHard")
    info = describe(env, "ReacherHard")
    # The fixture of test_fd_oracle: wrist at 0.9 into its +160 degree limit (same compile).
    steps = rollout(env, reset(env), np.tile([0.0, 0.9], (30, 1)))
    compared = compare_with_c(env.mj_model, info.n_substeps, steps)
    assert len(compared) == len(steps)
    rows = [int(s.out["n_constraints"]) for s in steps]
    assert rows[0] == 0 and rows[-1] == 1 and sum(rows) >= 5  # reaches the limit, stays
    assert all(s.out["contacts"].shape == (0,) and s.out["n_contacts"] == 0 for s in steps)


def test_an_env_step_without_mjx_env_step_is_a_typed_error():
    class Direct(BallArmEnv):
        def step(self, state, action):
            data = mjx.step(self._mjx_model, state.data.replace(ctrl=action))
            return state.replace(data=data)

    env = Direct()
    st = jax.eval_shape(env.reset, jax.random.PRNGKey(0))  # abstract: traces, runs nothing
    with pytest.raises(UnsupportedEnvError, match="mjx_env.step"):
        jax.eval_shape(lambda s, a: plain_step(env, s, a), st, jnp.zeros(2))
    out = jax.eval_shape(lambda s, a: plain_step(env, s, a, contacts=False), st, jnp.zeros(2))
    assert out.contacts.shape == (0,)  # without the contact outputs it still steps


def test_rk4_is_refused():
    xml = TOY_XML.replace(f'<option timestep="{H}"/>', f'<option timestep="{H}" integrator="RK4"/>')
    with pytest.raises(UnsupportedEnvError, match="RK4"):
        contacts.layout(mujoco.MjModel.from_xml_string(xml))


def test_capture_is_for_the_tracing_thread_only_and_restores_the_step(toy):
    env = toy
    data = jax.eval_shape(env.reset, jax.random.PRNGKey(0)).data
    original = mjx_env.step
    lay = contacts.layout(env.mj_model)
    other: list[Any] = []

    def from_other_thread():
        other.append(
            jax.eval_shape(lambda d: mjx_env.step(env.mjx_model, d, jnp.zeros(2), 2), data)
        )

    with contacts.capture(lay) as cap:
        assert mjx_env.step is not original
        worker = threading.Thread(target=from_other_thread)
        worker.start()
        worker.join()
        assert other and cap.parts == []  # the other thread ran the original step
        jax.eval_shape(lambda d: mjx_env.step(env.mjx_model, d, jnp.zeros(2), 2), data)
        assert len(cap.parts) == 1
    assert mjx_env.step is original
    with pytest.raises(RuntimeError), contacts.capture(lay):
        raise RuntimeError("inside")
    assert mjx_env.step is original


# -- slow: the paper's contact tasks ----------------------------------------------------


@pytest.mark.slow
def test_cheetah_ground_contacts_agree_with_c_and_the_step_is_unchanged():
    env = load_playground("CheetahRun")
    info = describe(env, "CheetahRun")
    acts = np.random.default_rng(0).uniform(-1, 1, (100, info.nu))
    steps = rollout(env, reset(env), acts)
    compared = compare_with_c(env.mj_model, info.n_substeps, steps)
    assert len(compared) >= 90
    feet = [info.contact_pairs.index(p) for p in ("ground:bfoot", "ground:ffoot")]
    touching = [t for t in compared if steps[t].out["contacts"][feet].any()]
    assert 10 <= len(touching) < len(compared)  # feet on and off the ground
    assert_bit_identical_without_contacts(env, steps[::10])
    # The plain step (jacobians=False) too: its contact state is the Jacobian step's.
    plain = rollout(env, steps[0].before, acts[:30], jacobians=False)
    for p, s in zip(plain, steps, strict=False):
        for k in ("contacts", "contacts_start", "n_contacts", "n_constraints"):
            assert p.out[k].tolist() == s.out[k].tolist(), k
    assert_bit_identical_without_contacts(env, plain[::10], jacobians=False)


@pytest.mark.slow
def test_ball_in_cup_contacts_and_string_agree_with_c():
    env = load_playground("BallInCup")
    info = describe(env, "BallInCup")
    rng = np.random.default_rng(0)
    # From the reset the ball falls until the string (a tendon limit) is taut; then a start
    # with the ball dropped into the cup (ball_z = 0.34), shaken at random.
    first = rollout(env, reset(env), rng.uniform(-1, 1, (30, info.nu)))
    st = reset(env)
    st = st.replace(data=st.data.replace(qpos=st.data.qpos.at[0, 3].set(0.34)))
    second = rollout(env, st, rng.uniform(-1, 1, (100, info.nu)))
    compared = compare_with_c(env.mj_model, info.n_substeps, first)
    assert len(compared) == len(first)
    assert sum(first[t].out["n_constraints"] == 1 for t in compared) >= 10  # the string only
    compared = compare_with_c(env.mj_model, info.n_substeps, second)
    cup = [i for i, p in enumerate(info.contact_pairs) if p.startswith("ball:cup_part")]
    in_cup = [t for t in compared if second[t].out["contacts"][cup].any()]
    assert len(compared) >= 60 and len(in_cup) >= 40  # 75 and 54 here
    starts = [t for t, s in enumerate(second) if s.out["contacts_start"][cup].any()]
    assert len(starts) >= 40  # the start masks, compared on every step
    assert len({tuple(s.out["contacts"]) for s in second}) >= 5  # rolling over cup parts
