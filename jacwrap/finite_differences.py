"""MuJoCo C's finite-difference transition Jacobians, chained over substeps.

The independent oracle of the tests and the peer of the benchmark (what a user would pick
without jacwrap); never the ground truth.

For an env step of k physics steps with the control held, J_s = A_k ... A_1 and
J_a = sum_i A_k ... A_(i+1) B_i (SPEC.md), where (A_i, B_i) = ``mjd_transitionFD`` at the
i-th intermediate state. Only the non-zero values are comparable: finite differences turn
structural zeros into ~1e-10 noise.
"""

from __future__ import annotations

import mujoco
import numpy as np


def chained_fd(model: mujoco.MjModel, qpos, qvel, ctrl, n_substeps: int, eps: float = 1e-6):
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    data.qvel[:] = qvel
    data.ctrl[:] = ctrl
    mujoco.mj_forward(model, data)
    n = 2 * model.nv + model.na
    js = np.eye(n)
    ja = np.zeros((n, model.nu))
    a = np.zeros((n, n))
    b = np.zeros((n, model.nu))
    for _ in range(n_substeps):
        mujoco.mjd_transitionFD(model, data, eps, True, a, b, None, None)
        js = a @ js
        ja = a @ ja + b
        mujoco.mj_step(model, data)
    return js, ja, np.concatenate([data.qpos, data.qvel])
