"""Recordings: a compact, crash-safe, random-access file format for Jacobian rollouts.

>>> from jacwrap.recording import open_recording
>>> with open_recording("run.jwr") as rec:  # CartpoleBalance: n = 4, m = 1
...     steps = rec.episode(0)          # Steps: numpy arrays with a leading step axis
...     steps.jac_state.shape, round(float(steps.sparsity[:, 0].mean()), 4)
((120, 4, 4), 0.1875)

Recording from a script is one extra line, for a single env, a vector env or an SB3 VecEnv:

>>> import jacwrap
>>> env = jacwrap.recording.record_env(jacwrap.make("CartpoleBalance"), "cartpole.jwr")
>>> env.close()

The file format is specified in docs/FORMAT.md.
"""

from __future__ import annotations

from jacwrap.recording.errors import (
    ChecksumError,
    LimitError,
    NotARecordingError,
    RecordingError,
    RecordingExistsError,
    RecordingNotFoundError,
    TruncatedError,
    UnsupportedVersionError,
)
from jacwrap.recording.header import FORMAT_VERSION, RecordingHeader
from jacwrap.recording.reader import Recording, open_recording
from jacwrap.recording.steps import EpisodeInfo, Steps
from jacwrap.recording.writer import RecordingWriter


def __getattr__(name: str):
    # The recorders and rollouts import the env stack (JAX); load them only when asked.
    if name == "record_rollouts":
        from jacwrap.recording.rollout import record_rollouts

        return record_rollouts
    if name == "SB3Recorder":  # needs the sb3 extra
        from jacwrap.recording.sb3_recorder import SB3Recorder

        return SB3Recorder
    if name in ("RecorderWrapper", "VectorRecorder", "record_env"):
        from jacwrap.recording import recorder

        return getattr(recorder, name)
    raise AttributeError(f"module 'jacwrap.recording' has no attribute {name!r}")


__all__ = [
    "FORMAT_VERSION",
    "ChecksumError",
    "EpisodeInfo",
    "LimitError",
    "NotARecordingError",
    "Recording",
    "RecordingError",
    "RecordingExistsError",
    "RecordingHeader",
    "RecordingNotFoundError",
    "RecordingWriter",
    "RecorderWrapper",
    "SB3Recorder",
    "Steps",
    "TruncatedError",
    "UnsupportedVersionError",
    "VectorRecorder",
    "open_recording",
    "record_env",
    "record_rollouts",
]
