"""``record_rollouts``: roll a policy out in a batch of envs and write one ``.jwr`` file."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from jacwrap.recording.errors import RecordingExistsError
from jacwrap.recording.header import JAC_DTYPES
from jacwrap.recording.recorder import StepRecorder
from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD


def recording_name(env_name: str, policy: str, seed: int, episodes: int, jac_dtype: str) -> str:
    """Default file name: ``<env>-<policy>-seed<S>-<N>ep[-f32].jwr``."""
    tag = policy if policy in ("random", "zero") else Path(policy).stem
    tag = re.sub(r"[^A-Za-z0-9_.]+", "_", tag) or "policy"
    suffix = "-f32" if jac_dtype == "float32" else ""
    return f"{env_name}-{tag}-seed{seed}-{episodes}ep{suffix}.jwr"


def record_rollouts(
    env_name: str,
    policy: str = "random",
    episodes: int = 1,
    max_steps: int | None = None,
    seed: int = 0,
    out_dir: str | os.PathLike = "recordings",
    num_envs: int = 1,
    jac_dtype: str = "float64",
    progress: bool = False,
    *,
    overwrite: bool = False,
    path: str | os.PathLike | None = None,
    threshold: float = GROUND_TRUTH_THRESHOLD,
    workers: int = 1,
) -> Path:
    """Record ``episodes`` episodes of ``policy`` in ``env_name`` and return the file's path.

    ``policy`` is ``"random"``, ``"zero"`` or an SB3 ``.zip`` file. Episodes last at most
    ``max_steps`` steps (default: the task's episode length) and run ``num_envs`` at a
    time (one batched Jacobian call per step); env i is seeded ``seed + i`` and the policy
    with ``seed``; ``workers`` processes share the batch (several CPU cores). The file is
    ``out_dir/<env>-<policy>-seed<S>-<N>ep[-f32].jwr`` unless
    ``path`` is given; an existing file raises :class:`RecordingExistsError` unless
    ``overwrite``. ``progress`` shows a tqdm bar (steps/s, ETA).
    """
    from jacwrap.policies import load_policy
    from jacwrap.vector_env import make_vec

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if jac_dtype not in JAC_DTYPES:
        raise ValueError(f"jac_dtype must be one of {JAC_DTYPES}, got {jac_dtype!r}")
    num_envs = max(1, min(int(num_envs), int(episodes)))
    out = (
        Path(path)
        if path is not None
        else Path(out_dir) / recording_name(env_name, policy, seed, episodes, jac_dtype)
    )
    if out.exists() and not overwrite:
        raise RecordingExistsError(
            f"{out}: a recording already exists (use overwrite / --overwrite, or another --out)"
        )
    overrides = {} if max_steps is None else {"episode_length": int(max_steps)}
    workers = max(1, min(int(workers), num_envs))
    venv = make_vec(env_name, num_envs, threshold=threshold, workers=workers, **overrides)
    info = venv.env_info
    pol = load_policy(policy, info)
    pol.reset(num_envs, seed)
    recorder = StepRecorder(
        out,
        venv.batch,
        policy=pol.description,
        jac_dtype=jac_dtype,
        overwrite=overwrite,
        extra={"episodes": episodes, "max_steps": info.episode_length, "num_envs": num_envs},
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    bar = _progress_bar(episodes * info.episode_length, env_name, progress)
    try:
        _roll(venv, pol, recorder, seed, episodes, bar)
    finally:
        recorder.close()
        bar.close()
        venv.close()
    return out


def _roll(venv, pol, recorder: StepRecorder, seed: int, episodes: int, bar) -> None:
    b = venv.num_envs
    recorder.start(seed)
    obs, _ = venv.reset(seed=seed)
    recorder.after_reset()
    active = np.ones(b, bool)  # env i's current episode is recorded
    started, finished = b, 0
    while finished < episodes:
        actions = np.asarray(pol.act(obs), np.float64)
        obs, _, terminated, truncated, _ = venv.step(actions)
        idx = np.flatnonzero(active)
        recorder.after_step(rows=idx)
        bar.update(len(idx))
        for i in np.flatnonzero(active & (terminated | truncated)):
            finished += 1
            if started < episodes:
                started += 1
            else:
                active[i] = False
        bar.set_postfix(episodes=f"{finished}/{episodes}", refresh=False)


def _progress_bar(total: int, env_name: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        unit="step",
        desc=f"recording {env_name}",
        disable=not enabled,
        dynamic_ncols=True,
    )
