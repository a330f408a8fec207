"""Recordings as Minari datasets, written by Minari itself (``create_dataset_from_buffers``).

Each recorded episode becomes one Minari episode (``EpisodeBuffer``) with Minari's layout:

* ``observations`` (T + 1, obs_dim) float32: the observations acted on, then the final one.
  **A recording does not hold the final observation** (only the final state s'), so the
  last row is NaN; ``infos["next_state"]`` has every s'.
* ``actions`` (T, m) float64 (the recording's dtype; the action space is a float64 Box over
  the control range), ``rewards`` (T,), ``terminations`` (T,), ``truncations`` (T,).
* ``infos``, Minari's convention of T + 1 rows (row 0 from ``reset``, row t + 1 from step t):
  ``state``, ``next_state``, ``jac_state``, ``jac_action``, ``jac_finite`` (the keys of the
  wrapper's ``info``) and ``sparsity`` (T + 1, 3), columns state, action, combined (minari
  0.5.4 cannot read a nested dict of infos back, so not the wrapper's dict). Row 0 holds the
  reset's ``state`` (= s_0); its step-only values are NaN (``jac_finite`` False). So
  ``infos["jac_state"][1:]`` lines up with ``actions``. Float32 recordings add the float64
  zero masks ``zero_state`` / ``zero_action``.

The dataset's metadata holds the env spec of ``jacwrap/<Env>-v0`` (``recover_environment()``
builds it, with the recorded episode length) and, under ``"jacwrap"``, every recording's
header, path and episode range; each episode's metadata names its recording and episode.
Several files of one env (shards) go into one dataset; files of several envs need a
``{env}`` in the id (``jacwrap/{env}/expert-v0``): one dataset per env. Episodes are
streamed to Minari in batches of about ``batch_bytes``; memory is bounded by that and by
one episode. Datasets go where Minari puts them (``MINARI_DATASETS_PATH``, default
``~/.minari/datasets``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import jacwrap
from jacwrap.data.errors import DataError, ExportExistsError, require
from jacwrap.data.fields import jacobian_fields
from jacwrap.data.result import ExportResult, progress
from jacwrap.data.sources import Source, group_by_env, open_sources
from jacwrap.recording import RecordingHeader, Steps, open_recording
from jacwrap.sparsity import SPARSITY_KINDS

DEFAULT_BATCH_BYTES = 64 << 20
ENV_PLACEHOLDER = "{env}"


def env_id(env_name: str) -> str:
    """The Gymnasium id jacwrap registers for an env: ``jacwrap/<Env>-v0``."""
    return f"jacwrap/{env_name}-v0"


def env_spec(header: RecordingHeader):
    """The registered spec of the recording's env, with the recorded episode length."""
    try:
        spec = gym.spec(env_id(header.env_name))
    except gym.error.Error as exc:
        raise DataError(
            f"{header.env_name}: no Gymnasium id {env_id(header.env_name)} ({exc}); "
            "only recordings of jacwrap's envs can be exported to Minari"
        ) from None
    length = header.extra.get("env_info", {}).get("episode_length")
    if length is not None:
        spec = dataclasses.replace(spec, kwargs={**spec.kwargs, "episode_length": int(length)})
    return spec


def spaces(header: RecordingHeader):
    """(observation space, action space) of the dataset: float32 observations as the env's,
    float64 actions over the control range (the recording stores float64 actions)."""
    info = header.extra.get("env_info", {})
    low = np.asarray(info.get("ctrl_low", [-np.inf] * header.m), np.float64)
    high = np.asarray(info.get("ctrl_high", [np.inf] * header.m), np.float64)
    obs = gym.spaces.Box(-np.inf, np.inf, shape=(header.obs_dim,), dtype=np.float32)
    return obs, gym.spaces.Box(low, high, shape=(header.m,), dtype=np.float64)


class _Described(gym.Env):
    """The recorded env's spec and spaces, handed to Minari as its ``env``: given an id or
    a spec, Minari would build the env (load and compile the simulator) just to read them.
    It is never stepped."""

    def __init__(self, header: RecordingHeader):
        self.spec = env_spec(header)
        self.observation_space, self.action_space = spaces(header)


def episode_buffer(steps: Steps, header: RecordingHeader):
    """One episode's ``minari.EpisodeBuffer`` (see the module docstring for the layout)."""
    from minari.data_collector.episode_buffer import EpisodeBuffer

    nan_obs = np.full((1, header.obs_dim), np.nan, np.float32)
    infos: dict[str, Any] = {}
    for f in jacobian_fields(header):
        values = np.asarray(getattr(steps, f.attr), dtype=f.dtype(header))
        if f.name == "state":
            first = values[:1]
        elif f.dtype(header) == np.dtype(bool):
            first = np.zeros((1, *values.shape[1:]), bool)
        else:
            first = np.full((1, *values.shape[1:]), np.nan, values.dtype)
        infos[f.name] = _info_column(np.concatenate([first, values]))
    sparsity = np.asarray(steps.sparsity, np.float64)
    infos["sparsity"] = np.concatenate([np.full((1, 3), np.nan), sparsity])
    return EpisodeBuffer(
        id=None,
        seed=None,
        observations=np.concatenate([steps.obs.astype(np.float32), nan_obs]),
        actions=steps.action.astype(np.float64),
        rewards=steps.reward.astype(np.float64),
        terminations=steps.terminated.astype(bool),
        truncations=steps.truncated.astype(bool),
        infos=infos,
    )


def _info_column(values: np.ndarray):
    """An info column as Minari's arrow storage reads it back unchanged: arrays of one value
    per step go in as lists (minari 0.5.4 stores an empty shape for a 1-D array and then
    cannot decode it); Python floats and bools hold float64 and bool values exactly."""
    return values.tolist() if values.ndim == 1 else values


def dataset_ids(dataset_id: str, envs: Sequence[str]) -> dict[str, str]:
    """The dataset id of each env: ``{env}`` in ``dataset_id`` replaced by its name."""
    if ENV_PLACEHOLDER not in dataset_id and len(envs) > 1:
        raise DataError(
            f"the recordings hold {len(envs)} envs ({', '.join(envs)}): put {ENV_PLACEHOLDER} "
            f"in the dataset id (e.g. jacwrap/{ENV_PLACEHOLDER}/expert-v0) for one dataset "
            "per env, or export them one env at a time"
        )
    from minari.dataset.minari_dataset import parse_dataset_id

    ids = {env: dataset_id.replace(ENV_PLACEHOLDER, env) for env in envs}
    for i in ids.values():
        try:
            parse_dataset_id(i)
        except ValueError as exc:
            raise DataError(f"{i}: {exc}") from None
    return ids


def export_minari(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    dataset_id: str,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
    author: str | None = None,
    author_email: str | None = None,
    code_permalink: str | None = None,
    description: str | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> ExportResult:
    """Write the recordings as Minari dataset(s) ``dataset_id`` (see the module docstring).

    Refuses (:class:`ExportExistsError`) when a dataset exists already, before writing,
    unless ``overwrite`` (which deletes it first). A failed export deletes what it wrote.
    """
    require("minari")
    require("pyarrow")
    from minari.storage.datasets_root_dir import get_dataset_path

    t0 = time.perf_counter()
    groups = group_by_env(open_sources(paths))
    ids = dataset_ids(dataset_id, list(groups))
    existing = [i for i in ids.values() if get_dataset_path(i).exists()]
    if existing and not overwrite:
        raise ExportExistsError(
            f"Minari dataset(s) {', '.join(existing)} exist already in "
            f"{get_dataset_path()} (pass --overwrite / overwrite=True to replace)"
        )
    total = sum(s.num_steps for g in groups.values() for s in g)
    meta = {"author": author, "author_email": author_email, "code_permalink": code_permalink}
    size = episodes = 0
    with progress(total, "minari", show_progress) as bar:
        for env, group in groups.items():
            path = get_dataset_path(ids[env])
            if path.exists():
                shutil.rmtree(path)
            try:
                episodes += _write_dataset(ids[env], group, meta, description, batch_bytes, bar)
            except BaseException:
                if path.exists():
                    shutil.rmtree(path)
                raise
            size += sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    return ExportResult(tuple(ids.values()), total, episodes, size, time.perf_counter() - t0)


def recordings_metadata(group: Sequence[Source]) -> list[dict[str, Any]]:
    """Per recording: path, header, step count and the range of its episodes in the dataset."""
    out, first = [], 0
    for s in group:
        out.append(
            {
                "path": str(s.path),
                "header": s.header.to_json_dict(),
                "num_steps": s.num_steps,
                "first_episode": first,
                "num_episodes": s.num_episodes,
                "truncated_tail": s.truncated_tail,
            }
        )
        first += s.num_episodes
    return out


def _batches(group: Sequence[Source], batch_bytes: int, bar):
    """(episode buffers, their episode metadata) of about ``batch_bytes``, in file order."""
    buffers, metas, nbytes = [], [], 0
    for k, source in enumerate(group):
        with open_recording(source.path) as rec:
            for ep in rec.episodes:
                steps = rec.episode(ep.index)
                buffers.append(episode_buffer(steps, rec.header))
                metas.append(
                    {
                        "recording": k,
                        "episode": ep.index,
                        "env_index": ep.env_index,
                        "complete": ep.complete,
                        "final_observation": "not recorded (NaN)",
                    }
                )
                nbytes += sum(np.asarray(getattr(steps, f)).nbytes for f in ("jac_state", "obs"))
                bar.update(len(steps))
                if nbytes >= batch_bytes:
                    yield buffers, metas
                    buffers, metas, nbytes = [], [], 0
    if buffers:
        yield buffers, metas


def _write_dataset(dataset_id, group, meta, description, batch_bytes, bar) -> int:
    import minari

    header = group[0].header
    desc = description or (
        f"{header.env_name}: {sum(s.num_steps for s in group)} steps of {len(group)} jacwrap "
        f"recording(s) with exact Jacobians J_s, J_a and their sparsity (threshold "
        f"{header.threshold:g}) as per-step infos. Policy: {header.policy or 'unknown'}."
    )
    dataset = None
    episodes = 0
    for batch, metas in _batches(group, batch_bytes, bar):
        if dataset is None:
            with warnings.catch_warnings():
                # Minari warns about every metadata field left out (author, permalink, ...).
                warnings.filterwarnings("ignore", message=r".*is set to None", category=UserWarning)
                dataset = minari.create_dataset_from_buffers(
                    dataset_id,
                    batch,
                    env=_Described(header),
                    algorithm_name=header.policy or "unknown",
                    description=desc,
                    data_format="arrow",
                    requirements=[f"jacwrap=={jacwrap.__version__}"],
                    **meta,
                )
        else:
            dataset.update_dataset_from_buffer(batch)
        ids = range(episodes, episodes + len(batch))
        dataset.storage.update_episode_metadata([{"jacwrap": m} for m in metas], ids)
        episodes += len(batch)
    if dataset is None:
        raise DataError(f"{', '.join(str(s.path) for s in group)}: no episodes to export")
    dataset.storage.update_metadata(
        {
            "jacwrap": {
                "recordings": recordings_metadata(group),
                "sparsity_columns": list(SPARSITY_KINDS),
            }
        }
    )
    return episodes
