"""MuJoCo C's finite-difference transition Jacobians of one env step: the test oracle.

The independent oracle of the tests and the peer of the benchmark (what a user would pick
without jacwrap); never the ground truth: finite differences turn structural zeros into
~1e-10 noise, so only the non-zero values are comparable.

Two forms (docs/SCIENCE.md, "The finite-difference oracle"):

- :func:`whole_step_fd`, **the oracle**: MuJoCo C's own env step (``n_substeps`` calls of
  ``mj_step`` with the control held, what the Playground env's ``step`` does) differenced
  around s and a, centered, every perturbed run starting from the same solver warm start
  (``qacc_warmstart``) that the env had before the step. Each substep's ``qacc`` becomes
  the next substep's warm start inside the perturbed runs, so its dependence on s and a is
  in the differences. Cost: 2 (n + m) env steps.
- :func:`chained_fd`, per-substep ``mjd_transitionFD`` chained: J_s = A_k ... A_1 and
  J_a = sum_i A_k ... A_(i+1) B_i. Each A_i holds that substep's warm start fixed and so
  drops how the next warm start depends on s: exact only while no constraint is active
  (the tasks' solvers run 1-4 iterations, so with a joint limit or a contact active the
  result depends on the warm start). Kept as the benchmark's second peer and to show the
  difference.

Control clamping is MuJoCo's own (``ctrlrange`` of ``ctrllimited`` actuators, in both C
and MJX): an action beyond the range has no effect, so its column of J_a is exactly zero.
"""

from __future__ import annotations

from typing import NamedTuple

import mujoco
import mujoco.rollout
import numpy as np

from jacwrap.errors import UnsupportedEnvError

#: Centered-difference step of the oracle (docs/SCIENCE.md).
FD_EPS = 1e-6

#: Second over first difference above which a column counts as a jump (see FDJacobians).
KINK_RATIO = 1e-2


class FDJacobians(NamedTuple):
    """Finite-difference Jacobians of one env step and MuJoCo C's unperturbed next state.

    ``kinks`` (whole-step form only) marks the columns of [J_s | J_a] where the step is not
    smooth within +-eps, so that a centered difference is no derivative there (compare only
    the other columns): the second difference ``f(+eps) - 2 f(0) + f(-eps)`` exceeds
    ``KINK_RATIO`` times the first, ``f(+eps) - f(-eps)``. A smooth step gives ~eps times
    its curvature; a jump gives O(1); a kink whose one-sided slopes differ by more than
    2 ``KINK_RATIO`` of their mean is caught too. Measured: WalkerRun ground contact jumps
    by 7e-3 in a velocity for a 1e-6 change of the torso height while the constraint rows,
    their solver states and the solver's iteration counts stay the same (a discrete choice
    inside the solver: warm start or smooth start, line-search bracket); 2 of 1,920 columns
    over 80 random-action steps.
    """

    jac_state: np.ndarray  # (n, n): rows s', columns s = (qpos, qvel)
    jac_action: np.ndarray  # (n, m): rows s', columns a
    next_state: np.ndarray  # (n,): s' of the unperturbed run
    kinks: np.ndarray | None = None  # (n + m,) bool


def _check_model(model: mujoco.MjModel) -> None:
    if model.nq != model.nv or model.na:
        raise UnsupportedEnvError(
            f"finite differences need s = (qpos, qvel) in a tangent space with no actuator "
            f"state; this model has nq={model.nq}, nv={model.nv}, na={model.na}"
        )


def _vector(name: str, value, size: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {arr.shape}")
    return arr


def _load(model, data, s, ctrl, warmstart) -> None:
    """Reset ``data`` and set the step's inputs: s = (qpos, qvel), ctrl, warm start."""
    mujoco.mj_resetData(model, data)
    data.qpos[:] = s[: model.nq]
    data.qvel[:] = s[model.nq :]
    data.ctrl[:] = ctrl
    data.qacc_warmstart[:] = warmstart


_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS


def _env_steps(model, inputs: np.ndarray, warmstart: np.ndarray, n_substeps: int) -> np.ndarray:
    """s' of MuJoCo C's env step for each row x = (s, a) of ``inputs``, one warm start.

    One ``mujoco.rollout`` call (``n_substeps`` ``mj_step`` calls per row, control held, in
    C, on one thread); bit for bit the same as stepping an ``MjData`` from Python.
    """
    n = model.nq + model.nv
    data = mujoco.MjData(model)
    _load(model, data, inputs[0, :n], inputs[0, n:], warmstart)
    base = np.empty(mujoco.mj_stateSize(model, _SPEC))
    mujoco.mj_getState(model, data, base, _SPEC)
    # FULLPHYSICS is (time, qpos, qvel, ...): s sits right after the time.
    at = mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_TIME)
    initial = np.tile(base, (len(inputs), 1))
    initial[:, at : at + n] = inputs[:, :n]
    control = np.repeat(inputs[:, None, n:], n_substeps, axis=1)
    warm = np.broadcast_to(warmstart, (len(inputs), model.nv))
    final, _ = mujoco.rollout.rollout(
        model, data, initial, control, nstep=n_substeps, initial_warmstart=warm
    )
    return final[:, -1, at : at + n]


def _inputs(model, qpos, qvel, ctrl, qacc_warmstart) -> tuple[np.ndarray, np.ndarray]:
    """x = (s, a) and the warm start, validated against the model."""
    _check_model(model)
    x = np.concatenate(
        [
            _vector("qpos", qpos, model.nq),
            _vector("qvel", qvel, model.nv),
            _vector("ctrl", ctrl, model.nu),
        ]
    )
    return x, _vector("qacc_warmstart", qacc_warmstart, model.nv)


def env_step(
    model: mujoco.MjModel, qpos, qvel, ctrl, n_substeps: int, *, qacc_warmstart
) -> np.ndarray:
    """MuJoCo C's env step from (qpos, qvel) and a warm start: s' = concat(qpos, qvel)."""
    x, warm = _inputs(model, qpos, qvel, ctrl, qacc_warmstart)
    return _env_steps(model, x[None], warm, n_substeps)[0]


def whole_step_fd(
    model: mujoco.MjModel,
    qpos,
    qvel,
    ctrl,
    n_substeps: int,
    *,
    qacc_warmstart,
    eps: float = FD_EPS,
) -> FDJacobians:
    """Centered differences of MuJoCo C's whole env step around s and a (see module doc).

    ``qacc_warmstart`` is the env's solver warm start before the step (an MJX state's
    ``state.data.qacc_warmstart``); every perturbed run starts from it. The 2 (n + m) + 1
    runs go through one ``mujoco.rollout`` call; ``kinks`` flags the columns where the step
    is not smooth within +-eps (:class:`FDJacobians`).
    """
    if n_substeps < 1:
        raise ValueError(f"n_substeps must be >= 1, got {n_substeps}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    x, warm = _inputs(model, qpos, qvel, ctrl, qacc_warmstart)
    n, k = model.nq + model.nv, x.size
    d = eps * np.eye(k)
    out = _env_steps(model, np.concatenate([x[None], x + d, x - d]), warm, n_substeps)
    s_next, plus, minus = out[0], out[1 : k + 1].T, out[k + 1 :].T
    jac = (plus - minus) / (2 * eps)
    second = np.max(np.abs(plus - 2 * s_next[:, None] + minus), axis=0)
    first = np.max(np.abs(plus - minus), axis=0)
    kinks = second > KINK_RATIO * first + 1e-13
    return FDJacobians(jac[:, :n], jac[:, n:], s_next, kinks)


def chained_fd(
    model: mujoco.MjModel,
    qpos,
    qvel,
    ctrl,
    n_substeps: int,
    eps: float = FD_EPS,
    *,
    qacc_warmstart=None,
) -> FDJacobians:
    """Per-substep centered ``mjd_transitionFD`` chained over the substeps (see module doc).

    Exact only while no constraint is active. ``qacc_warmstart`` (default zeros) is the
    first substep's warm start; later substeps use the previous substep's ``qacc``.
    """
    warm = np.zeros(model.nv) if qacc_warmstart is None else qacc_warmstart
    x, warm = _inputs(model, qpos, qvel, ctrl, warm)
    n = model.nq + model.nv
    data = mujoco.MjData(model)
    _load(model, data, x[:n], x[n:], warm)
    mujoco.mj_forward(model, data)
    js = np.eye(n)
    ja = np.zeros((n, model.nu))
    a = np.zeros((n, n))
    b = np.zeros((n, model.nu))
    for _ in range(n_substeps):
        mujoco.mjd_transitionFD(model, data, eps, True, a, b, None, None)
        js = a @ js
        ja = a @ ja + b
        mujoco.mj_step(model, data)
    return FDJacobians(js, ja, np.concatenate([data.qpos, data.qvel]))


def substep_constraints(
    model: mujoco.MjModel, qpos, qvel, ctrl, n_substeps: int, *, qacc_warmstart
) -> list[np.ndarray]:
    """The active constraint rows' types (``efc_type``, ``mjtConstraint``) at each substep.

    Entry i lists the rows of MuJoCo C's i-th ``mj_step`` of the env step (empty: no
    constraint active, where the chained form is exact).
    """
    x, warm = _inputs(model, qpos, qvel, ctrl, qacc_warmstart)
    n = model.nq + model.nv
    data = mujoco.MjData(model)
    _load(model, data, x[:n], x[n:], warm)
    rows = []
    for _ in range(n_substeps):
        mujoco.mj_step(model, data)
        rows.append(np.array(data.efc_type[: data.nefc]))
    return rows
