"""MuJoCo C's finite-difference transition Jacobians of one env step: the test oracle.

The independent oracle of the tests and the peer of the benchmark (what a user would pick
without jacwrap); never the ground truth: finite differences turn structural zeros into
~1e-10 noise, so only the non-zero values are comparable.

Two forms (SPEC.md, "The transition function and its Jacobians"):

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
import numpy as np

from jacwrap.errors import UnsupportedEnvError

#: Centered-difference step of the oracle (SPEC.md).
FD_EPS = 1e-6

#: Second over first difference above which a column counts as a jump (see FDJacobians).
KINK_RATIO = 1e-2


class FDJacobians(NamedTuple):
    """Finite-difference Jacobians of one env step and MuJoCo C's unperturbed next state.

    ``kinks`` (whole-step form only) marks the columns of [J_s | J_a] where the step is not
    smooth within +-eps, so that a centered difference is no derivative there (compare only
    the other columns): either a perturbed run crossed a change of the constraint set (at
    some substep the active rows or their solver states, ``efc_type`` and ``efc_state``,
    differ from the unperturbed run's: a contact appearing, a row switching between
    satisfied and active), or the step jumps (the second difference
    ``f(+eps) - 2 f(0) + f(-eps)`` exceeds ``KINK_RATIO`` times the first,
    ``f(+eps) - f(-eps)``; a smooth step gives ~eps times its curvature). Measured jumps:
    WalkerRun ground contact, 7e-3 in a velocity for a 1e-6 change of the torso height with
    the constraint rows and solver iteration counts unchanged (a discrete choice inside the
    solver: warm start or smooth start, line-search bracket).
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


def _run(model, data, s, ctrl, warmstart, n_substeps: int) -> tuple[np.ndarray, list[bytes]]:
    """One env step from the given inputs: (s', each substep's constraint signature)."""
    _load(model, data, s, ctrl, warmstart)
    signature = []
    for _ in range(n_substeps):
        mujoco.mj_step(model, data)
        k = data.nefc
        signature.append(data.efc_type[:k].tobytes() + data.efc_state[:k].tobytes())
    return np.concatenate([data.qpos, data.qvel]), signature


def env_step(
    model: mujoco.MjModel, qpos, qvel, ctrl, n_substeps: int, *, qacc_warmstart
) -> np.ndarray:
    """MuJoCo C's env step from (qpos, qvel) and a warm start: s' = concat(qpos, qvel)."""
    _check_model(model)
    s = np.concatenate([_vector("qpos", qpos, model.nq), _vector("qvel", qvel, model.nv)])
    ctrl = _vector("ctrl", ctrl, model.nu)
    warm = _vector("qacc_warmstart", qacc_warmstart, model.nv)
    return _run(model, mujoco.MjData(model), s, ctrl, warm, n_substeps)[0]


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
    ``state.data.qacc_warmstart``); every perturbed run starts from it.
    """
    _check_model(model)
    if n_substeps < 1:
        raise ValueError(f"n_substeps must be >= 1, got {n_substeps}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    s = np.concatenate([_vector("qpos", qpos, model.nq), _vector("qvel", qvel, model.nv)])
    a = _vector("ctrl", ctrl, model.nu)
    warm = _vector("qacc_warmstart", qacc_warmstart, model.nv)
    data = mujoco.MjData(model)
    s_next, base = _run(model, data, s, a, warm, n_substeps)
    n, m = s.size, a.size
    columns = []
    kinks = np.zeros(n + m, dtype=bool)
    for j in range(n + m):
        d = np.zeros(n + m)
        d[j] = eps
        plus, sig_plus = _run(model, data, s + d[:n], a + d[n:], warm, n_substeps)
        minus, sig_minus = _run(model, data, s - d[:n], a - d[n:], warm, n_substeps)
        columns.append((plus - minus) / (2 * eps))
        second = np.max(np.abs(plus - 2 * s_next + minus))
        first = np.max(np.abs(plus - minus))
        jump = second > KINK_RATIO * first + 1e-13
        kinks[j] = jump or sig_plus != base or sig_minus != base
    jac = np.stack(columns, axis=1)
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
    _check_model(model)
    data = mujoco.MjData(model)
    s = np.concatenate([_vector("qpos", qpos, model.nq), _vector("qvel", qvel, model.nv)])
    warm = np.zeros(model.nv) if qacc_warmstart is None else qacc_warmstart
    _load(
        model, data, s, _vector("ctrl", ctrl, model.nu), _vector("qacc_warmstart", warm, model.nv)
    )
    mujoco.mj_forward(model, data)
    n = 2 * model.nv
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
    _check_model(model)
    data = mujoco.MjData(model)
    s = np.concatenate([_vector("qpos", qpos, model.nq), _vector("qvel", qvel, model.nv)])
    _load(
        model,
        data,
        s,
        _vector("ctrl", ctrl, model.nu),
        _vector("qacc_warmstart", qacc_warmstart, model.nv),
    )
    rows = []
    for _ in range(n_substeps):
        mujoco.mj_step(model, data)
        rows.append(np.array(data.efc_type[: data.nefc]))
    return rows
