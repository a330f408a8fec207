"""Which Playground environments jacwrap serves, how they are loaded, and their variable labels.

A jacwrap environment is a MuJoCo Playground DM Control Suite task loaded with the JAX
implementation (``impl="jax"``, the only one with autodiff) whose state is
s = concat(qpos, qvel) with qpos in a tangent space (no free or ball joint).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from jacwrap._jax_setup import configure_jax
from jacwrap.errors import UnknownEnvError, UnsupportedEnvError

#: The eight tasks of the paper (docs/SCIENCE.md, "Environments and state"), in its table order.
PAPER_ENVS: tuple[str, ...] = (
    "BallInCup",
    "CartpoleBalance",
    "CheetahRun",
    "ReacherHard",
    "FingerSpin",
    "FingerTurnEasy",
    "WalkerRun",
    "SwimmerSwimmer6",
)

#: The other DM Control Suite tasks of Playground 0.2.0 whose state is (qpos, qvel). Kept
#: static so that ``import jacwrap`` does not import Playground; a test checks it against
#: ``mujoco_playground.dm_control_suite.ALL_ENVS``.
OTHER_ENVS: tuple[str, ...] = (
    "AcrobotSwingup",
    "AcrobotSwingupSparse",
    "CartpoleBalanceSparse",
    "CartpoleSwingup",
    "CartpoleSwingupSparse",
    "FingerTurnHard",
    "HopperHop",
    "HopperStand",
    "PendulumSwingup",
    "PointMass",
    "ReacherEasy",
    "WalkerStand",
    "WalkerWalk",
)

#: Playground DM Control tasks left out: free/ball joints (qpos is not a tangent space).
EXCLUDED_ENVS: tuple[str, ...] = ("FishSwim", "HumanoidRun", "HumanoidStand", "HumanoidWalk")


def available_envs() -> list[str]:
    """Names that :func:`jacwrap.make` accepts: the paper's tasks first, then the others."""
    return [*PAPER_ENVS, *OTHER_ENVS]


@dataclass(frozen=True)
class EnvInfo:
    """Static description of an environment: dimensions, timing and variable labels.

    ``state_labels`` has n = nq + nv entries (``qpos:<joint>`` then ``qvel:<joint>``), the
    row and column labels of J_s; ``action_labels`` has nu entries (``act:<actuator>``),
    the column labels of J_a. ``contact_pairs`` labels (``geom1:geom2``) the model's
    candidate contact pairs, the columns of each step's contact masks (:mod:`jacwrap.contacts`).
    """

    name: str
    nq: int
    nv: int
    nu: int
    ctrl_dt: float
    sim_dt: float
    n_substeps: int
    episode_length: int
    state_labels: tuple[str, ...]
    action_labels: tuple[str, ...]
    ctrl_low: tuple[float, ...]
    ctrl_high: tuple[float, ...]
    contact_pairs: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return self.nq + self.nv

    @property
    def m(self) -> int:
        return self.nu

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "nq": self.nq,
            "nv": self.nv,
            "nu": self.nu,
            "ctrl_dt": self.ctrl_dt,
            "sim_dt": self.sim_dt,
            "n_substeps": self.n_substeps,
            "episode_length": self.episode_length,
            "state_labels": list(self.state_labels),
            "action_labels": list(self.action_labels),
            "ctrl_low": list(self.ctrl_low),
            "ctrl_high": list(self.ctrl_high),
        }


def _dof_names(model: Any, kind: str) -> list[str]:
    import mujoco

    names = []
    for j in range(model.njnt):
        jname = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) or f"joint{j}"
        names.append(f"{kind}:{jname}")
    return names


def describe(env: Any, name: str | None = None) -> EnvInfo:
    """Build the :class:`EnvInfo` of a Playground env object (raises if unsupported)."""
    import mujoco

    from jacwrap.contacts import contact_pairs  # imports JAX: not at `import jacwrap`

    model = env.mj_model
    bad = [
        int(t)
        for t in model.jnt_type
        if t in (mujoco.mjtJoint.mjJNT_FREE, mujoco.mjtJoint.mjJNT_BALL)
    ]
    if bad or model.nq != model.nv:
        raise UnsupportedEnvError(
            f"{name or type(env).__name__}: state must be (qpos, qvel) with qpos in a tangent "
            f"space; this model has nq={model.nq}, nv={model.nv} and free/ball joints"
        )
    nu = int(model.nu)
    act = [
        f"act:{mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, i) or i}" for i in range(nu)
    ]
    limited = model.actuator_ctrllimited.astype(bool) if nu else np.zeros(0, bool)
    rng = np.where(limited[:, None], model.actuator_ctrlrange, [[-np.inf, np.inf]])
    cfg = getattr(env, "_config", None)
    episode_length = int(getattr(cfg, "episode_length", 1000)) if cfg is not None else 1000
    return EnvInfo(
        name=name or type(env).__name__,
        nq=int(model.nq),
        nv=int(model.nv),
        nu=nu,
        ctrl_dt=float(env.dt),
        sim_dt=float(env.sim_dt),
        n_substeps=int(env.n_substeps),
        episode_length=episode_length,
        state_labels=tuple(_dof_names(model, "qpos") + _dof_names(model, "qvel")),
        action_labels=tuple(act),
        ctrl_low=tuple(float(x) for x in rng[:, 0]),
        ctrl_high=tuple(float(x) for x in rng[:, 1]),
        contact_pairs=contact_pairs(model),
    )


#: (name, overrides) -> the Playground env object that every jacwrap env of that task and
#: options shares: its jitted step is then traced and compiled once per process
#: (:func:`jacwrap.batch.compiled_batch` is keyed by the env object).
_SHARED: dict[tuple[str, str], Any] = {}


def _overrides_key(overrides: dict[str, Any]) -> str:
    return json.dumps(overrides, sort_keys=True, default=repr)


#: Modules hidden while Playground is first imported (see :func:`playground_registry`).
HIDDEN_AT_IMPORT: tuple[str, ...] = ("torch", "warp")


def playground_registry() -> Any:
    """``mujoco_playground.registry``, imported without torch and NVIDIA Warp where they are
    not loaded yet.

    Playground's package import also loads its RSL-RL torch wrapper, which imports torch
    whenever it is installed (about 9 s here, for a module jacwrap never uses), and MJX's
    import loads Warp for its ``impl="warp"`` backend (2 s of a 6 s warm start here;
    jacwrap steps ``impl="jax"``, BENCHMARKS.md "Warm start"). Hiding both during that one
    import keeps ``jacwrap.make*`` free of them (MJX's note that Warp is missing is
    silenced); in this process Playground's torch wrapper then lacks torch and MJX's Warp
    backend is off, unless torch or warp was imported before jacwrap built its first env.
    MJX's mesh tools (trimesh, ``scipy.spatial``) are imported at their first use instead
    (:mod:`jacwrap._lazy_imports`).
    """
    if "mujoco_playground" not in sys.modules:
        from jacwrap._lazy_imports import deferred_imports

        hidden = [name for name in HIDDEN_AT_IMPORT if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # `import name` fails
        try:
            # stdout: MJX prints "Failed to import warp: ..."
            with contextlib.redirect_stdout(io.StringIO()), deferred_imports():
                import mujoco_playground  # noqa: F401
        finally:
            for name in hidden:
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]
    from mujoco_playground import registry

    return registry


def load_playground(name: str, *, fresh: bool = False, **config_overrides: Any) -> Any:
    """Load a Playground DM Control task with ``impl="jax"`` (float64 enabled first).

    Envs of the same ``name`` and overrides share one env object (Playground envs are pure:
    ``reset``/``step`` are functions of their state), so that N envs built one at a time
    (``gymnasium.make`` N times, SB3's ``make_vec_env``) trace and compile one step.
    ``fresh=True`` builds a new object every call.

    With the step cache on, the compiled reset and step that the last process built first
    from this task and overrides start loading in the background before Playground is
    imported (:func:`jacwrap.step_cache.prefetch`; a batch takes them only if they are its
    own, key for key).

    Raises :class:`UnknownEnvError` listing the valid names for an unknown ``name``.
    """
    valid = available_envs()
    if name not in valid:
        raise UnknownEnvError(name, valid)
    key = (name, _overrides_key(config_overrides))
    if not fresh and key in _SHARED:
        return _SHARED[key]
    configure_jax()
    from jacwrap import step_cache
    from jacwrap._jax_setup import step_cache_dir

    directory = step_cache_dir()
    if directory is not None:
        step_cache.prefetch(directory, key)
    registry = playground_registry()
    overrides = {**config_overrides, "impl": "jax"}
    env = registry.load(name, config_overrides=overrides)
    step_cache.note_origin(env, key)
    if not fresh:
        _SHARED[key] = env
    return env
