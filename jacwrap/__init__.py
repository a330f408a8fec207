"""jacwrap: exact transition Jacobians and their sparsity for MuJoCo Playground envs.

>>> import jacwrap
>>> env = jacwrap.make("CartpoleBalance")          # gymnasium.Env, float64 Jacobians
>>> obs, info = env.reset(seed=0)
>>> obs, r, term, trunc, info = env.step(env.action_space.sample())
>>> info["jac_state"].shape, info["sparsity"]["state"]
((4, 4), 0.1875)
"""

from __future__ import annotations

__version__ = "0.1.0"

from jacwrap._jax_setup import configure_jax

# Ground truth is float64 (docs/SCIENCE.md): switch x64 on before any user code builds an MJX model.
configure_jax()

from jacwrap.render.gl import configure_gl

# MuJoCo picks its OpenGL backend when imported: choose EGL/OSMesa on a headless machine first.
configure_gl()

from jacwrap.envs import PAPER_ENVS, EnvInfo, available_envs
from jacwrap.errors import (
    ActionError,
    JacwrapError,
    UnknownEnvError,
    UnsupportedEnvError,
)
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD, LEARNED_THRESHOLD

# The adapters import MJX and Playground (seconds; the SB3 one Stable-Baselines3 too): load them on first use,
# so that reading recordings (summary, replay) starts fast.
_LAZY = {
    "JacobianWrapper": "jacwrap.gym_env",
    "make": "jacwrap.gym_env",
    "JacobianVectorEnv": "jacwrap.vector_env",
    "make_vec": "jacwrap.vector_env",
    # The SB3 VecEnv needs the sb3 extra (Stable-Baselines3, torch).
    "JacobianVecEnv": "jacwrap.sb3_env",
    "make_sb3": "jacwrap.sb3_env",
    # Scoring a user's dynamics model against recordings (jacwrap.data).
    "score": "jacwrap.data.scoring",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jacwrap' has no attribute {name!r}")


def _register() -> None:
    """Register ``jacwrap/<Name>-v0`` Gymnasium ids for the paper's tasks and the others."""
    import gymnasium as gym

    for name in available_envs():
        env_id = f"jacwrap/{name}-v0"
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="jacwrap.gym_env:make",
            vector_entry_point="jacwrap.vector_env:make_vec",
            kwargs={"name": name},
            disable_env_checker=True,
            order_enforce=False,
        )


_register()

__all__ = [
    "ActionError",
    "EnvInfo",
    "GROUND_TRUTH_THRESHOLD",
    "JacobianVecEnv",
    "JacobianVectorEnv",
    "JacobianWrapper",
    "JacwrapError",
    "LEARNED_THRESHOLD",
    "PAPER_ENVS",
    "UnknownEnvError",
    "UnsupportedEnvError",
    "available_envs",
    "configure_jax",
    "make",
    "make_sb3",
    "make_vec",
    "score",
]
