"""What the constraint solver saw in a step: active contacts, contact pairs, constraint rows.

Computed inside the compiled step from the same simulation as the Jacobians (pure JAX, no
second simulation); see README "Choices" for why these definitions.

**Candidate pairs.** :func:`contact_pairs` lists the geom pairs that MJX's collision driver
tests (``mujoco.mjx._src.collision_driver.geom_pairs``: explicit ``<pair>`` elements, then
every body pair that passes contype/conaffinity, exclusion, self and parent filtering), in
its order, labelled ``geom1:geom2`` (MJX orders each pair by geom type, so a plane comes
first: ``ground:bfoot``). A geom without a name is named ``<body>#<geom id>``. A model whose
contacts or constraints are disabled has no pairs (neither MJX nor MuJoCo C makes contact
constraints for it). MJX has a fixed number of contact slots (several per pair, e.g. two for
capsule/plane; where the model sets ``max_geom_pairs``/``max_contact_points``, as CheetahRun
and WalkerRun do, fewer slots than pairs, filled by the nearest candidates): each slot names
its geoms, and a slot maps onto the pair with those geoms.

**Active.** Exactly the rows that MJX's constraint builder (``mjx._src.constraint``) keeps
non-zero, which are the rows MuJoCo C puts in ``d.efc_*`` after ``mj_forward``:

- a contact slot is active when ``dist - includemargin < 0`` (its distance is within its
  margin; MJX multiplies the slot's rows by this flag, MuJoCo C keeps such a contact in
  ``d.contact``, so ``n_contacts`` is C's ``d.ncon``);
- a joint or tendon limit row is active when MJX's ``pos = min(dist_lower, dist_upper) -
  margin < 0``, read back as ``efc_pos < efc_margin`` (MJX stores ``efc_pos = pos * active +
  margin``: exact for margin 0, as in every DM Control task, else up to one rounding);
- an equality row is active when its constraint is (``eq_active``); friction-loss rows
  (``frictionloss > 0``) always are.

``n_constraints`` counts active rows as MuJoCo C's ``d.nefc`` does: a contact of dimension
``condim`` has ``2 (condim - 1)`` rows with the pyramidal cone (1 when frictionless),
``condim`` with the elliptic one; a connect equality 3, a weld 6.

**Per env step** (several physics substeps, each one ``mjx.step`` = forward at the substep's
start state, then integration): ``contacts`` is the (P,) union over the substeps of the pairs
with an active contact, ``contacts_start`` the (P,) mask at the first substep, i.e. at the
step's start state s (with the step's action as ctrl), ``n_contacts`` and ``n_constraints``
the maximum over the substeps (int32). The end state s' is not included: its contacts are
the next step's ``contacts_start``.

**How the substeps are seen.** Playground's envs step with ``mjx_env.step(model, data,
action, n_substeps)``, a ``lax.scan`` of ``mjx.step``. While jacwrap traces a step,
:func:`capture` swaps that function for :func:`substeps`, the same scan that also returns
each substep's :class:`ConstraintState` (for the tracing thread only, under a lock, restored
afterwards); the summary leaves ``jax.jacfwd`` as auxiliary output. The simulation itself is
unchanged (a test checks next states and Jacobians bit for bit).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jacwrap.errors import UnsupportedEnvError


class ConstraintState(NamedTuple):
    """The active contacts and constraint rows of one forward pass (or one env step)."""

    contacts: jax.Array  # (P,) bool: pairs with an active contact (union over substeps)
    contacts_start: jax.Array  # (P,) bool: the same at the first substep
    n_contacts: jax.Array  # () int32: active contact slots (max over substeps)
    n_constraints: jax.Array  # () int32: active constraint rows (max over substeps)


@dataclass(frozen=True)
class ContactLayout:
    """Static description of a model's contact pairs and constraint rows (NumPy, hashable)."""

    labels: tuple[str, ...]  # (P,) pair labels
    geom1: tuple[int, ...]  # (P,) geom ids as MJX orders each pair
    geom2: tuple[int, ...]
    contacts_on: bool  # False: contacts or constraints disabled (no pairs, no contact rows)
    elliptic: bool  # contact cone
    eq_rows: tuple[int, ...]  # the equality id of each equality row, in MJX's row order
    n_friction: int  # friction-loss rows (always active)
    limit_rows: tuple[int, ...]  # efc row indices of joint and tendon limits

    @property
    def num_pairs(self) -> int:
        return len(self.labels)


# mjtDisableBit / mjtEq / mjtConstraint values (MuJoCo C; MJX uses the same numbers).
_DISABLE_CONSTRAINT, _DISABLE_EQUALITY, _DISABLE_CONTACT = 1, 2, 16
_EQ_CONNECT, _EQ_WELD, _EQ_JOINT, _EQ_TENDON = 0, 1, 2, 3
_LIMIT_JOINT, _LIMIT_TENDON = 3, 4


def _geom_label(model: Any, g: int) -> str:
    import mujoco

    name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)
    if name:
        return name
    body = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, int(model.geom_bodyid[g]))
    return f"{body or 'geom'}#{g}"


def layout(mj_model: Any) -> ContactLayout:
    """The :class:`ContactLayout` of a ``mujoco.MjModel`` (what MJX builds from it).

    Raises :class:`UnsupportedEnvError` for the RK4 integrator, whose ``mjx.step`` keeps the
    contacts of its last stage rather than those of the substep's start state.
    """
    import mujoco
    from mujoco.mjx._src.collision_driver import geom_pairs
    from mujoco.mjx._src.constraint import make_efc_type

    flags = int(mj_model.opt.disableflags)
    if int(mj_model.opt.integrator) == int(mujoco.mjtIntegrator.mjINT_RK4):
        raise UnsupportedEnvError(
            "contact state needs the contacts of each substep's start state, but MJX's RK4 "
            "step keeps those of its last stage; use the Euler or implicitfast integrator"
        )
    constraints_on = not flags & _DISABLE_CONSTRAINT
    contacts_on = constraints_on and not flags & _DISABLE_CONTACT
    pairs = [(int(g1), int(g2)) for g1, g2, _ in geom_pairs(mj_model)] if contacts_on else []
    labels = tuple(f"{_geom_label(mj_model, a)}:{_geom_label(mj_model, b)}" for a, b in pairs)
    eq_rows: list[int] = []
    if constraints_on and not flags & _DISABLE_EQUALITY:
        per_type = ((_EQ_CONNECT, 3), (_EQ_WELD, 6), (_EQ_JOINT, 1), (_EQ_TENDON, 1))
        for eq_type, rows in per_type:
            for i in np.flatnonzero(mj_model.eq_type == eq_type):
                eq_rows += [int(i)] * rows
    efc_type = np.asarray(make_efc_type(mj_model), dtype=int) if constraints_on else np.zeros(0)
    n_friction = int(np.isin(efc_type, (1, 2)).sum())  # FRICTION_DOF, FRICTION_TENDON
    limit_rows = tuple(
        int(i) for i in np.flatnonzero(np.isin(efc_type, (_LIMIT_JOINT, _LIMIT_TENDON)))
    )
    return ContactLayout(
        labels=labels,
        geom1=tuple(a for a, _ in pairs),
        geom2=tuple(b for _, b in pairs),
        contacts_on=contacts_on,
        elliptic=int(mj_model.opt.cone) == int(mujoco.mjtCone.mjCONE_ELLIPTIC),
        eq_rows=tuple(eq_rows),
        n_friction=n_friction,
        limit_rows=limit_rows,
    )


def contact_pairs(mj_model: Any) -> tuple[str, ...]:
    """Labels ``geom1:geom2`` of the model's candidate contact pairs, in MJX's fixed order."""
    return layout(mj_model).labels


def _rows_per_contact(dim: np.ndarray, elliptic: bool) -> np.ndarray:
    if elliptic:
        return np.asarray(dim, dtype=np.int32)
    return np.where(dim == 1, 1, 2 * (np.asarray(dim) - 1)).astype(np.int32)


def constraint_state(lay: ContactLayout, data: Any) -> ConstraintState:
    """The :class:`ConstraintState` of one ``mjx.Data`` after ``mjx.forward`` or ``mjx.step``.

    Reads only what forward computed (contact distances, constraint rows, ``eq_active``), so
    after ``mjx.step`` it describes the substep's start state. ``contacts_start`` equals
    ``contacts`` here. See the module docstring for what is active.
    """
    impl = data._impl  # MJX's JAX-backend fields (contact, efc_*), named by MJX as ``_impl``
    n_rows = jnp.int32(lay.n_friction)
    if lay.eq_rows:
        n_rows += data.eq_active[np.asarray(lay.eq_rows)].astype(jnp.int32).sum()
    if lay.limit_rows:
        idx = np.asarray(lay.limit_rows)
        n_rows += (impl.efc_pos[idx] < impl.efc_margin[idx]).astype(jnp.int32).sum()
    pairs = jnp.zeros((lay.num_pairs,), dtype=bool)
    n_con = jnp.int32(0)
    con = impl.contact
    if lay.contacts_on and con.dist.shape[0]:
        active = (con.dist - con.includemargin) < 0  # MJX's ``pos < 0`` of each contact slot
        geom = con.geom
        match = (geom[:, :1] == np.asarray(lay.geom1)[None]) & (
            geom[:, 1:2] == np.asarray(lay.geom2)[None]
        )
        pairs = (match & active[:, None]).any(axis=0)
        n_con = active.astype(jnp.int32).sum()
        rows = jnp.asarray(_rows_per_contact(np.asarray(con.dim), lay.elliptic))
        n_rows += jnp.where(active, rows, 0).sum()
    return ConstraintState(pairs, pairs, n_con, n_rows.astype(jnp.int32))


def summarize(per_substep: ConstraintState) -> ConstraintState:
    """One env step's summary of a stacked (substeps first) :class:`ConstraintState`."""
    return ConstraintState(
        contacts=per_substep.contacts.any(axis=0),
        contacts_start=per_substep.contacts_start[0],
        n_contacts=per_substep.n_contacts.max(axis=0),
        n_constraints=per_substep.n_constraints.max(axis=0),
    )


def combine(parts: list[ConstraintState]) -> ConstraintState:
    """Several ``mjx_env.step`` calls in one env step: union, first start, maxima."""
    out = parts[0]
    for p in parts[1:]:
        out = ConstraintState(
            out.contacts | p.contacts,
            out.contacts_start,
            jnp.maximum(out.n_contacts, p.n_contacts),
            jnp.maximum(out.n_constraints, p.n_constraints),
        )
    return out


def substeps(
    lay: ContactLayout, model: Any, data: Any, action: jax.Array, n_substeps: int = 1
) -> tuple[Any, ConstraintState]:
    """``mjx_env.step`` (Playground 0.2.0: the same scan) that also returns the summary.

    One substep (CartpoleBalance, CheetahRun) is called directly, not as a scan of length
    one: the same arithmetic, but JAX's scan rules find which loop-carried values have
    tangents and batch axes by fixpoint, re-transforming the whole physics step in each
    round (under ``jacfwd`` and ``vmap``: CheetahRun's Jacobian step traced in 12-14 s with
    the scan, 5 s without; BENCHMARKS.md). With more substeps the loop stays a loop: its
    body compiles once.
    """
    from mujoco import mjx

    def single_step(data, _):
        data = data.replace(ctrl=action)
        data = mjx.step(model, data)
        return data, constraint_state(lay, data)

    if n_substeps == 1:
        data, one = single_step(data, None)
        return data, summarize(jax.tree.map(lambda x: x[None], one))
    data, per = jax.lax.scan(single_step, data, (), n_substeps)
    return data, summarize(per)


class Capture:
    """What :func:`capture` collected while the env's step was traced."""

    def __init__(self, lay: ContactLayout, env_name: str):
        self.layout = lay
        self.env_name = env_name
        self.parts: list[ConstraintState] = []
        self.thread = threading.get_ident()

    def summary(self) -> ConstraintState:
        """The env step's :class:`ConstraintState`; raises if no substep was seen."""
        if not self.parts:
            raise UnsupportedEnvError(
                f"{self.env_name}: its step does not call mujoco_playground's mjx_env.step, "
                "so jacwrap cannot see the contacts of its substeps; step the physics "
                "with mjx_env.step(model, data, action, n_substeps)"
            )
        return combine(self.parts)


_SWAP_LOCK = threading.RLock()  # re-entrant: a trace inside a trace nests its swap


@contextlib.contextmanager
def capture(lay: ContactLayout, env_name: str = "env") -> Iterator[Capture]:
    """Within the block, ``mjx_env.step`` calls from this thread also record contact state.

    Meant around the trace of one env step (the swap is Python-level, so only tracing sees
    it). Other threads calling ``mjx_env.step`` meanwhile get the original; a second jacwrap
    trace waits for the lock.
    """
    from mujoco_playground._src import mjx_env

    with _SWAP_LOCK:
        original = mjx_env.step
        cap = Capture(lay, env_name)

        def step(model, data, action, n_substeps=1):
            if threading.get_ident() != cap.thread:
                return original(model, data, action, n_substeps)
            data, summary = substeps(lay, model, data, action, n_substeps)
            cap.parts.append(summary)
            return data

        mjx_env.step = step
        try:
            yield cap
        finally:
            mjx_env.step = original


def absent(dtype: Any = jnp.int32) -> ConstraintState:
    """The contact fields of a step computed without them: (0,) masks and counts of -1."""
    empty = jnp.zeros((0,), dtype=bool)
    return ConstraintState(empty, empty, jnp.array(-1, dtype), jnp.array(-1, dtype))
