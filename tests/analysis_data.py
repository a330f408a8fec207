"""Synthetic ``Steps``-like chunks with planted zero patterns, for the analysis tests.

The planted data set (``planted()``): n = 2, m = 1, two episodes of 10 steps each, plus
one non-finite step in episode 1 (step t=4) whose masks are all zero and must be ignored.

J_s elements (finite steps only, 20 samples):
- (0, 0): zero at every step                  -> globally zero, 100 %
- (0, 1): zero at 6 of 20 steps               -> exactly 30 %;
          episode 0 zero at t=2,3,4 (one zero run of 3; non-zero runs 2 and 5)
          episode 1 zero at t=0,1,9 (zero runs 2 and 1; non-zero run 7)
- (1, 0): never zero                           -> 0 %
- (1, 1): alternates in episode 0 (zero at even t: 5 zero runs and 5 non-zero runs of 1),
          zero throughout episode 1 (a whole-episode run, excluded)  -> 15/20 = 75 %
J_a elements:
- (0, 0): zero at every step                   -> globally zero
- (1, 0): zero at t < 5 in episode 0 only      -> 5/20 = 25 %; zero run 5, non-zero run 5
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from jacwrap.sparsity import sparsity_triplet

N, M, T = 2, 1, 10


def make_steps(
    zero_state: np.ndarray,
    zero_action: np.ndarray,
    episode: np.ndarray,
    t: np.ndarray,
    finite: np.ndarray | None = None,
    seed: int = 0,
) -> SimpleNamespace:
    """A Steps-like chunk whose Jacobians are 0 where masked, 1 elsewhere (NaN if not finite)."""
    k = zero_state.shape[0]
    finite = np.ones(k, bool) if finite is None else np.asarray(finite, bool)
    js = np.where(zero_state, 0.0, 1.0)
    ja = np.where(zero_action, 0.0, 1.0)
    js[~finite] = np.nan
    rng = np.random.default_rng(seed)
    n, m = zero_state.shape[1], zero_action.shape[2]
    return SimpleNamespace(
        state=rng.normal(size=(k, n)),
        action=rng.normal(size=(k, m)),
        next_state=rng.normal(size=(k, n)),
        jac_state=js,
        jac_action=ja,
        zero_state=zero_state,
        zero_action=zero_action,
        sparsity=sparsity_triplet(js, ja),
        finite=finite,
        episode=np.asarray(episode, np.int64),
        t=np.asarray(t, np.int64),
    )


def planted() -> SimpleNamespace:
    """The planted data set described in the module docstring, as one chunk of 21 steps."""
    zs = np.zeros((2, T, N, N), bool)
    za = np.zeros((2, T, N, M), bool)
    zs[:, :, 0, 0] = True
    zs[0, 2:5, 0, 1] = True
    zs[1, [0, 1, 9], 0, 1] = True
    zs[0, ::2, 1, 1] = True
    zs[1, :, 1, 1] = True
    za[:, :, 0, 0] = True
    za[0, :5, 1, 0] = True
    zs, za = zs.reshape(2 * T, N, N), za.reshape(2 * T, N, M)
    episode = np.repeat([0, 1], T)
    t = np.tile(np.arange(T), 2)
    finite = np.ones(2 * T, bool)
    # A non-finite step inserted in episode 1 at position t=4 (its t shifts the rest by one).
    ins = T + 4
    zs = np.insert(zs, ins, True, axis=0)
    za = np.insert(za, ins, True, axis=0)
    episode = np.insert(episode, ins, 1)
    t = np.concatenate([np.arange(T), np.arange(T + 1)])
    finite = np.insert(finite, ins, False)
    return make_steps(zs, za, episode, t, finite)


def chunks(steps: SimpleNamespace, size: int) -> list[SimpleNamespace]:
    """Split a chunk into consecutive chunks of ``size`` steps."""
    k = steps.finite.shape[0]
    return [
        SimpleNamespace(**{name: v[a : a + size] for name, v in vars(steps).items()})
        for a in range(0, k, size)
    ]
