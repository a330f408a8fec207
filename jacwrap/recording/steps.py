"""Array containers returned by the reader: :class:`Steps` (k steps) and :class:`EpisodeInfo`."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

#: Steps fields in storage order, with their per-step shape (in terms of the header dims).
STEP_FIELDS = (
    "obs",
    "action",
    "reward",
    "terminated",
    "truncated",
    "state",
    "next_state",
    "jac_state",
    "jac_action",
    "zero_state",
    "zero_action",
    "sparsity",
    "finite",
    "episode",
    "t",
)


@dataclass
class Steps:
    """k consecutive recorded steps as NumPy arrays with leading axis k (``len(steps) == k``).

    ``obs`` is the observation the action was taken on; ``state``/``next_state`` are s and
    s'. ``jac_state`` (k,n,n) and ``jac_action`` (k,n,m) are float64, or float32 if the
    header says so; ``zero_state``/``zero_action`` are the zero masks computed from the
    float64 Jacobians at the header's threshold; ``sparsity`` (k,3) is [state, action,
    combined] (NaN where not ``finite``). ``episode`` is the episode index of each step and
    ``t`` its step within that episode.
    """

    obs: np.ndarray  # (k, obs_dim) float32
    action: np.ndarray  # (k, m) float64
    reward: np.ndarray  # (k,) float64
    terminated: np.ndarray  # (k,) bool
    truncated: np.ndarray  # (k,) bool
    state: np.ndarray  # (k, n) float64
    next_state: np.ndarray  # (k, n) float64
    jac_state: np.ndarray  # (k, n, n)
    jac_action: np.ndarray  # (k, n, m)
    zero_state: np.ndarray  # (k, n, n) bool
    zero_action: np.ndarray  # (k, n, m) bool
    sparsity: np.ndarray  # (k, 3) float64
    finite: np.ndarray  # (k,) bool
    episode: np.ndarray  # (k,) int64
    t: np.ndarray  # (k,) int64

    def __len__(self) -> int:
        return int(self.reward.shape[0])

    def __getitem__(self, index: slice | np.ndarray) -> Steps:
        """Rows ``index`` (a slice or an index array) of every field, as a new :class:`Steps`."""
        if isinstance(index, int | np.integer):
            index = slice(int(index), int(index) + 1 if index != -1 else None)
        return Steps(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def copy(self) -> Steps:
        """A copy that owns its arrays."""
        return Steps(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    @classmethod
    def concat(cls, parts: list[Steps]) -> Steps:
        """Concatenate along the step axis (at least one part; one part is returned as is)."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )


@dataclass(frozen=True)
class EpisodeInfo:
    """One episode: global steps ``start .. start + length - 1`` of env ``env_index``.

    ``ret`` is the sum of its rewards. ``complete`` is False when the recording stopped
    before the episode ended (writer closed mid-episode, or the process was killed).
    """

    index: int
    env_index: int
    start: int
    length: int
    ret: float
    complete: bool

    @property
    def stop(self) -> int:
        return self.start + self.length
