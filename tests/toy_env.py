"""A toy Playground-style env with hand-derivable Jacobians: a damped slide joint with a motor.

Dynamics of one physics step (MuJoCo's Euler integrator, damping integrated implicitly):
    v' = v + h (g u - b v) / (M + h b)  =  a v + c u,   a = M / (M + h b),  c = h g / (M + h b)
    q' = q + h v'
so one substep is x' = A x + B u with A = [[1, h a], [0, a]], B = [[h c], [c]], and an env step
of k substeps has J_s = A^k and J_a = sum_{i<k} A^i B. Gravity is off, so J_s[1, 0] is an exact
(structural) zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from ml_collections import config_dict
from mujoco import mjx
from mujoco_playground._src import mjx_env

MASS, DAMPING, GEAR, H, SUBSTEPS = 2.0, 0.7, 3.0, 0.01, 3

XML = f"""
<mujoco model="slider">
  <option timestep="{H}" gravity="0 0 0" integrator="Euler"/>
  <worldbody>
    <body name="cart">
      <joint name="slide" type="slide" axis="1 0 0" damping="{DAMPING}"/>
      <geom type="box" size="0.1 0.1 0.1" contype="0" conaffinity="0"/>
      <inertial pos="0 0 0" mass="{MASS}" diaginertia="1 1 1"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="push" joint="slide" gear="{GEAR}" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""


def analytic_jacobians() -> tuple[np.ndarray, np.ndarray]:
    a = MASS / (MASS + H * DAMPING)
    c = H * GEAR / (MASS + H * DAMPING)
    A = np.array([[1.0, H * a], [0.0, a]])
    B = np.array([[H * c], [c]])
    js = np.linalg.matrix_power(A, SUBSTEPS)
    ja = sum(np.linalg.matrix_power(A, i) @ B for i in range(SUBSTEPS))
    return js, ja


class SliderEnv(mjx_env.MjxEnv):
    """Minimal Playground env (not registered with jacwrap) around the toy model."""

    def __init__(self):
        cfg = config_dict.create(ctrl_dt=H * SUBSTEPS, sim_dt=H, episode_length=50, impl="jax")
        super().__init__(cfg)
        self._mj_model = mujoco.MjModel.from_xml_string(XML)
        self._mjx_model = mjx.put_model(self._mj_model, impl="jax")

    def reset(self, rng):
        qpos = jax.random.uniform(rng, (1,), minval=-0.5, maxval=0.5)
        data = mjx_env.make_data(self._mj_model, qpos=qpos, qvel=jnp.array([0.3]), impl="jax")
        data = mjx.forward(self._mjx_model, data)
        obs = jnp.concatenate([data.qpos, data.qvel])
        return mjx_env.State(data, obs, jnp.zeros(()), jnp.zeros(()), {}, {})

    def step(self, state, action):
        data = mjx_env.step(self._mjx_model, state.data, action, self.n_substeps)
        obs = jnp.concatenate([data.qpos, data.qvel])
        done = jnp.isnan(data.qpos).any().astype(float)
        return mjx_env.State(data, obs, -jnp.abs(data.qpos[0]), done, state.metrics, state.info)

    @property
    def xml_path(self):
        return ""

    @property
    def action_size(self):
        return 1

    @property
    def mj_model(self):
        return self._mj_model

    @property
    def mjx_model(self):
        return self._mjx_model
