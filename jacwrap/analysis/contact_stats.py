"""What changes the sparsity: statistics of the Jacobians' zero masks against the contacts.

Pure NumPy functions of the arrays a recording's :class:`~jacwrap.recording.Steps` carry
(``contacts``, ``zero_state``, ``zero_action``, ``sparsity``, ``finite``, ``episode``,
``t``; the contact columns are README "Choices"), returning frozen dataclasses. Every
result that counts is additive (``a + b``): call the functions on arrays that hold *whole
episodes* (an episode's steps contiguous and in order, as :meth:`Recording.episode` or a
buffer of finished episodes gives them; a change is never counted across the arrays' ends)
and add the results. :func:`episode_contact_stats` runs them all on one ``Steps``.

Notation: step k of the arrays has contact set C_k = {p : ``contacts[k, p]``} (the pairs in
contact at any physics substep of the step) and combined zero mask Z_k = [``zero_state[k]``
| ``zero_action[k]``] (n x (n + m)). Steps with ``finite[k]`` False (non-finite Jacobians,
NaN sparsity) are left out of every statistic. #X is the number of elements of a set X.

===========================  ======================================================  ==========
statistic                    definition                                              unit
===========================  ======================================================  ==========
contact set label            ``{a:b, c:d}``: C_k's pair labels in pair order;      --
                             ``{}`` for no contact
set count                    finite steps with contact set C                         steps
set share                    set count / all finite steps                            fraction
set mean J_s (J_a) sparsity  mean of ``sparsity[k, 0]`` (``[k, 1]``) over the      share of
                             finite steps with contact set C                         zeros
histogram by contacts        h[c, b]: finite steps with #C_k = c pairs in contact    steps
                             and sparsity in bin b (``accumulators.HIST_EDGES``)
opportunity                  row k >= 1 with ``episode[k] == episode[k-1]``,         --
                             ``t[k] == t[k-1] + 1`` and both steps finite; O_e: the
                             opportunities of episode e, N_e = #O_e; a change at
                             row k is a change at step t[k]
zero-mask change, set A      opportunity k with Z_k != Z_{k-1} (in any element)      --
contact change, set B        opportunity k with C_k != C_{k-1}                       --
coincide                     x, y in one episode with abs(t_x - t_y) <= 1            --
share (a)                    #{x in A coinciding with some y in B} / #A              share of A
share (b)                    #{y in B coinciding with some x in A} / #B              share of B
window w_x                   opportunities of x's episode within one step of x (x    opport-
                             included): 1, 2 or 3                                    unities
pi(N, w, b)                  chance that b of N opportunities drawn uniformly        probability
                             without replacement include one of w given ones:
                             1 - C(N-w, b) / C(N, b) = 1 - prod_{i<w} (N-b-i)/(N-i)
chance (a)                   (sum over x in A of pi(N_e, w_x, #B_e)) / #A, e = x's   share of A
                             episode, B_e = B in e: the expected share (a) if each
                             episode's contact changes, as many, were placed at
                             random over its opportunities
chance (b)                   the same with A and B swapped                           share of B
ratio                        share / chance                                          --
element switch of (i, j)     opportunity k with Z_k[i, j] != Z_{k-1}[i, j]           --
pair change of p             opportunity k with ``contacts[k, p] !=                  --
                             contacts[k-1, p]``
explained(i, j, p)           switches of (i, j) coinciding with a change of p /      share of
                             switches of (i, j)                                      switches
chance(i, j, p)              (sum over switches x of (i, j) of pi(N_e, w_x, changes  share of
                             of p in e)) / switches of (i, j)                        switches
best pair of (i, j)          the p with the largest explained(i, j, p); ties: the    pair label
                             smaller chance(i, j, p), then the first pair
contact phase                a maximal interval [t0, t1) of one episode's steps      steps
                             with one contact set
===========================  ======================================================  ==========

Shares, chances and ratios whose denominator is 0 are NaN. The histogram is split by the
number of *pairs* in contact, not by ``n_contacts``: MJX gives a pair several contact slots
(two for capsule/plane, up to four for box/plane; :mod:`jacwrap.contacts`), so
``n_contacts`` counts one foot on the floor as 1, 2 or 4 by its geometry, while the number
of pairs counts what touches what, and its groups are unions of contact sets (the histogram
and the contact-set table split the same steps). The chance is exact, not sampled: the
expected number of coinciding events, summed over the events and episodes, over the events.

>>> import numpy as np
>>> pairs = ("floor:bfoot", "floor:ffoot")
>>> contacts = np.array([[0, 0], [0, 0], [1, 0], [1, 0], [1, 1], [1, 1]], bool)
>>> [(p.t0, p.t1, contact_set_label(p.members, pairs)) for p in contact_phases(contacts)]
[(0, 2, '{}'), (2, 4, '{floor:bfoot}'), (4, 6, '{floor:bfoot, floor:ffoot}')]
>>> zero = np.zeros((6, 1, 2), bool); zero[2:] = True   # the mask changes at t = 2
>>> steps = dict(episode=np.zeros(6, np.int64), t=np.arange(6), finite=np.ones(6, bool))
>>> al = switch_alignment(zero[:, :, :1], zero[:, :, 1:], contacts, **steps)
>>> al.mask_changes.share, al.contact_changes.share   # 1 of 1; 1 of 2 (t = 2, not t = 4)
(1.0, 0.5)
>>> round(al.mask_changes.chance, 4)   # pi(5, 3, 2) = 1 - C(2, 2) / C(5, 2) = 9/10
0.9
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jacwrap.analysis.accumulators import HIST_BINS, sparsity_bin

#: Light fill colours of the contact phases, one per distinct set (cycled); matplotlib's
#: ``tab20`` light shades, so that the sparsity lines drawn over them stay readable.
PHASE_COLOURS = (
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
    "#9edae5",
    "#c7c7c7",
)


# -- contact sets ------------------------------------------------------------------------------
def contact_set_label(members: Sequence[int] | np.ndarray, pairs: Sequence[str]) -> str:
    """``{floor:bfoot, floor:ffoot}`` for a (P,) bool mask or pair indices; ``{}`` if empty."""
    members = np.asarray(members)
    idx = np.flatnonzero(members) if members.dtype == bool else members.astype(np.int64)
    return "{" + ", ".join(pairs[int(i)] for i in idx) + "}"


@dataclass(frozen=True)
class ContactSetSums:
    """Per distinct contact set: finite-step count and sums of the J_s / J_a sparsity.

    ``sets`` (S, P) bool holds each set once, in lexicographic row order; ``count`` (S,)
    int64; ``sum_state``, ``sum_action`` (S,) float64.
    """

    sets: np.ndarray
    count: np.ndarray
    sum_state: np.ndarray
    sum_action: np.ndarray

    def __add__(self, other: ContactSetSums) -> ContactSetSums:
        if self.sets.shape[1] != other.sets.shape[1]:
            raise ValueError(
                f"contact sets over {self.sets.shape[1]} and {other.sets.shape[1]} pairs "
                "cannot be added (recordings of different environments?)"
            )
        return _group_sets(
            np.concatenate([self.sets, other.sets]),
            np.concatenate([self.count, other.count]),
            np.concatenate([self.sum_state, other.sum_state]),
            np.concatenate([self.sum_action, other.sum_action]),
        )


def _group_sets(sets, count, sum_state, sum_action) -> ContactSetSums:
    keys, inverse = np.unique(sets, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    size = keys.shape[0]
    return ContactSetSums(
        sets=keys.astype(bool),
        count=np.bincount(inverse, count, size).astype(np.int64),
        sum_state=np.bincount(inverse, sum_state, size),
        sum_action=np.bincount(inverse, sum_action, size),
    )


def contact_set_sums(
    contacts: np.ndarray, sparsity: np.ndarray, finite: np.ndarray
) -> ContactSetSums:
    """:class:`ContactSetSums` of k steps: ``contacts`` (k, P), ``sparsity`` (k, 3),
    ``finite`` (k,) (non-finite steps are left out)."""
    keep = np.asarray(finite, bool)
    sp = np.asarray(sparsity, np.float64)[keep]
    sets = np.asarray(contacts, bool)[keep]
    # runs of one set first (sets change rarely), so that np.unique sorts few rows
    new_run = row_changes(sets, np.ones(sets.shape[0], bool))
    new_run[:1] = True
    starts = np.flatnonzero(new_run)
    count = np.diff(np.append(starts, sets.shape[0])).astype(np.float64)
    sums = [np.add.reduceat(x, starts) if starts.size else x for x in (sp[:, 0], sp[:, 1])]
    return _group_sets(sets[starts], count, *sums)


@dataclass(frozen=True)
class ContactSetRow:
    """One row of the contact-set table: a set (``members`` its pair labels), or ``other``
    (``members`` None) lumping ``sets`` sets; ``count`` finite steps, ``share`` of all
    finite steps, mean J_s / J_a sparsity over them."""

    label: str
    members: tuple[str, ...] | None
    sets: int
    count: int
    share: float
    mean_state: float
    mean_action: float


def contact_set_table(
    sums: ContactSetSums, pairs: Sequence[str], top: int = 8
) -> tuple[ContactSetRow, ...]:
    """The ``top`` most frequent contact sets (count descending, ties by label), then one
    ``other`` row lumping the rest (only if there is a rest)."""
    if sums.sets.shape[1] != len(pairs):
        raise ValueError(f"{len(pairs)} pair labels for contact sets over {sums.sets.shape[1]}")
    labels = [contact_set_label(s, pairs) for s in sums.sets]
    order = sorted(range(len(labels)), key=lambda i: (-int(sums.count[i]), labels[i]))
    total = int(sums.count.sum())
    rows = [
        _set_row(labels[i], tuple(pairs[p] for p in np.flatnonzero(sums.sets[i])), [i], sums, total)
        for i in order[:top]
    ]
    if len(order) > top:
        rows.append(_set_row("other", None, order[top:], sums, total))
    return tuple(rows)


def _set_row(label, members, idx, sums: ContactSetSums, total: int) -> ContactSetRow:
    count = int(sums.count[idx].sum())
    return ContactSetRow(
        label=label,
        members=members,
        sets=len(idx),
        count=count,
        share=_ratio(count, total),
        mean_state=_ratio(float(sums.sum_state[idx].sum()), count),
        mean_action=_ratio(float(sums.sum_action[idx].sum()), count),
    )


@dataclass(frozen=True)
class SparsityByContacts:
    """Per-sample sparsity histograms split by the number of pairs in contact.

    ``state[c, b]`` / ``action[c, b]`` (P + 1, ``HIST_BINS``) int64: finite steps with c
    pairs in contact whose J_s / J_a sparsity is in bin b (``accumulators.HIST_EDGES``).
    """

    state: np.ndarray
    action: np.ndarray

    @property
    def steps(self) -> np.ndarray:
        """(P + 1,) finite steps with c pairs in contact."""
        return self.state.sum(axis=1)

    def __add__(self, other: SparsityByContacts) -> SparsityByContacts:
        if self.state.shape != other.state.shape:
            raise ValueError(f"histograms of shapes {self.state.shape} and {other.state.shape}")
        return SparsityByContacts(self.state + other.state, self.action + other.action)


def sparsity_by_contacts(
    contacts: np.ndarray, sparsity: np.ndarray, finite: np.ndarray
) -> SparsityByContacts:
    """:class:`SparsityByContacts` of k steps (arguments as :func:`contact_set_sums`)."""
    contacts = np.asarray(contacts, bool)
    keep = np.asarray(finite, bool)
    sp = np.asarray(sparsity, np.float64)[keep]
    count = contacts[keep].sum(axis=1)
    rows = contacts.shape[1] + 1
    hists = []
    for col in (0, 1):
        flat = count * HIST_BINS + sparsity_bin(sp[:, col])
        hists.append(np.bincount(flat, minlength=rows * HIST_BINS).reshape(rows, HIST_BINS))
    return SparsityByContacts(*(h.astype(np.int64) for h in hists))


# -- change events -----------------------------------------------------------------------------
def opportunities(episode: np.ndarray, t: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """(k,) bool: row k is a change opportunity (it and row k-1 are consecutive finite steps
    of one episode)."""
    episode, t = np.asarray(episode), np.asarray(t)
    finite = np.asarray(finite, bool)
    out = np.zeros(episode.shape[0], bool)
    out[1:] = (episode[1:] == episode[:-1]) & (t[1:] == t[:-1] + 1) & finite[1:] & finite[:-1]
    return out


def row_changes(x: np.ndarray, opp: np.ndarray, *, per_column: bool = False) -> np.ndarray:
    """Where row k of ``x`` (k, ...) differs from row k-1, at opportunities ``opp`` only:
    (k,) bool (any element), or with ``per_column`` (k, ...) bool per element."""
    x = np.asarray(x)
    diff = np.zeros(x.shape, bool)
    diff[1:] = x[1:] != x[:-1]
    if not per_column:
        diff = diff.any(axis=tuple(range(1, diff.ndim)))
    return diff & np.asarray(opp, bool).reshape((-1,) + (1,) * (diff.ndim - 1))


def combined_mask(zero_state: np.ndarray, zero_action: np.ndarray) -> np.ndarray:
    """[J_s | J_a] zero masks, (k, n, n + m) bool."""
    return np.concatenate([np.asarray(zero_state, bool), np.asarray(zero_action, bool)], axis=2)


def near(events: np.ndarray, opp: np.ndarray) -> np.ndarray:
    """Opportunities within one step of an event: ``events`` (k, ...) bool, a subset of
    ``opp`` (k,) (column by column for 2-D events).

    Two opportunities in adjacent rows are adjacent steps of one episode (each one's rows
    are), so the window is the row before, the row and the row after."""
    ev = np.asarray(events, bool)
    opp = np.asarray(opp, bool).reshape((-1,) + (1,) * (ev.ndim - 1))
    out = ev.copy()
    out[1:] |= ev[:-1] & opp[1:]
    out[:-1] |= ev[1:]
    return out & opp


def windows(opp: np.ndarray) -> np.ndarray:
    """(k,) int: at each opportunity, the opportunities within one step (itself included)."""
    opp = np.asarray(opp, bool)
    w = opp.astype(np.int64)
    w[1:] += opp[:-1] & opp[1:]
    w[:-1] += opp[1:] & opp[:-1]
    return w * opp


def hit_probability(n: Any, w: Any, b: Any) -> np.ndarray:
    """pi(n, w, b) = 1 - C(n - w, b) / C(n, b): the chance that b of n opportunities drawn
    uniformly without replacement include one of a given w (w in 1..3, w <= n; b = 0: 0)."""
    n, w, b = (np.asarray(v, np.float64) for v in (n, w, b))
    miss = np.ones(np.broadcast(n, w, b).shape)
    for i in range(3):
        term = np.clip(n - b - i, 0.0, None) / np.maximum(n - i, 1.0)
        miss = miss * np.where(i < w, term, 1.0)
    return 1.0 - miss


def episode_segments(episode: np.ndarray) -> np.ndarray:
    """(k,) int64: index of each row's run of equal ``episode`` values (0, 0, 1, ...)."""
    episode = np.asarray(episode)
    seg = np.zeros(episode.shape[0], np.int64)
    seg[1:] = np.cumsum(episode[1:] != episode[:-1])
    return seg


def per_episode(x: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """(S, ...) float64: the sums of the rows of ``x`` (k, ...) over each episode run ``seg``
    (:func:`episode_segments`)."""
    x = np.asarray(x, np.float64)
    if seg.size == 0:
        return np.zeros((0, *x.shape[1:]))
    return np.add.reduceat(x, np.flatnonzero(np.diff(seg, prepend=-1)), axis=0)


def per_episode_chance(others: np.ndarray, opp: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """pi(N_e, w_k, number of ``others`` in e) at each row k of episode e (column by column
    for 2-D ``others``); meaningful at opportunities."""
    seg = episode_segments(episode)
    b = per_episode(others, seg)[seg]
    w = windows(opp).reshape((-1,) + (1,) * (b.ndim - 1))
    return hit_probability(per_episode(opp, seg)[seg].reshape(w.shape), w, b)


@dataclass(frozen=True)
class Coincidence:
    """Events of one kind against changes of the other: ``events`` |A|, ``coinciding`` of
    them within one step of the other kind, ``expected`` coinciding by chance (sum of pi)."""

    events: int
    coinciding: int
    expected: float

    @property
    def share(self) -> float:
        return _ratio(self.coinciding, self.events)

    @property
    def chance(self) -> float:
        return _ratio(self.expected, self.events)

    @property
    def ratio(self) -> float:
        return _ratio(self.share, self.chance)

    def __add__(self, other: Coincidence) -> Coincidence:
        return Coincidence(
            self.events + other.events,
            self.coinciding + other.coinciding,
            self.expected + other.expected,
        )


def coincidence(
    events: np.ndarray, others: np.ndarray, opp: np.ndarray, episode: np.ndarray
) -> Coincidence:
    """:class:`Coincidence` of (k,) bool ``events`` with (k,) bool ``others`` (both subsets
    of the opportunities ``opp``)."""
    events = np.asarray(events, bool)
    hit = near(others, opp)[events]
    pi = per_episode_chance(others, opp, episode)[events]
    return Coincidence(int(events.sum()), int(hit.sum()), float(pi.sum()))


@dataclass(frozen=True)
class SwitchAlignment:
    """Zero-mask changes against contact changes: (a) ``mask_changes`` near contact
    changes, (b) ``contact_changes`` near zero-mask changes; ``opportunities`` counted."""

    mask_changes: Coincidence
    contact_changes: Coincidence
    opportunities: int

    def __add__(self, other: SwitchAlignment) -> SwitchAlignment:
        return SwitchAlignment(
            self.mask_changes + other.mask_changes,
            self.contact_changes + other.contact_changes,
            self.opportunities + other.opportunities,
        )


def switch_alignment(
    zero_state: np.ndarray,
    zero_action: np.ndarray,
    contacts: np.ndarray,
    episode: np.ndarray,
    t: np.ndarray,
    finite: np.ndarray,
) -> SwitchAlignment:
    """:class:`SwitchAlignment` of k steps holding whole episodes (module docstring)."""
    opp = opportunities(episode, t, finite)
    a = row_changes(combined_mask(zero_state, zero_action), opp)
    b = row_changes(contacts, opp)
    return SwitchAlignment(
        coincidence(a, b, opp, episode), coincidence(b, a, opp, episode), int(opp.sum())
    )


# -- which element switches with which pair ----------------------------------------------------
@dataclass(frozen=True)
class ElementPairCounts:
    """Per element (i, j) of [J_s | J_a]: ``switches`` (n, n + m) int64; per element and
    pair p: ``coinciding`` (n, n + m, P) int64 switches within one step of a change of p,
    ``expected`` (n, n + m, P) float64 coinciding by chance (sum of pi)."""

    switches: np.ndarray
    coinciding: np.ndarray
    expected: np.ndarray

    def __add__(self, other: ElementPairCounts) -> ElementPairCounts:
        if self.coinciding.shape != other.coinciding.shape:
            raise ValueError(f"counts of shapes {self.coinciding.shape}, {other.coinciding.shape}")
        return ElementPairCounts(
            self.switches + other.switches,
            self.coinciding + other.coinciding,
            self.expected + other.expected,
        )


def element_pair_counts(
    zero_state: np.ndarray,
    zero_action: np.ndarray,
    contacts: np.ndarray,
    episode: np.ndarray,
    t: np.ndarray,
    finite: np.ndarray,
) -> ElementPairCounts:
    """:class:`ElementPairCounts` of k steps holding whole episodes (module docstring)."""
    mask = combined_mask(zero_state, zero_action)
    k, rows, cols = mask.shape
    opp = opportunities(episode, t, finite)
    switch = row_changes(mask, opp, per_column=True).reshape(k, rows * cols)
    pair_change = row_changes(contacts, opp, per_column=True)
    at = switch.any(axis=1)  # the steps where some element switches, few of the k
    hit = near(pair_change, opp)[at]
    both = hit.any(axis=1)
    coinciding = switch[at][both].T.astype(np.float64) @ hit[both].astype(np.float64)
    seg = episode_segments(episode)
    expected = _expected_coinciding(
        switch[at], seg[at], windows(opp)[at], per_episode(opp, seg), per_episode(pair_change, seg)
    )
    shape = (rows, cols, pair_change.shape[1])
    return ElementPairCounts(
        switches=switch.sum(axis=0).astype(np.int64).reshape(rows, cols),
        coinciding=np.rint(coinciding).astype(np.int64).reshape(shape),
        expected=expected.reshape(shape),
    )


def _expected_coinciding(switch, seg, w, n_opp, n_changes) -> np.ndarray:
    """(E, P): sum over the switch rows of pi(N_e, w, changes of p in e). pi is one value per
    (episode, window) group, so the rows are summed by group first."""
    key = seg * 4 + w
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.diff(key[order], prepend=-1))
    if starts.size == 0:
        return np.zeros((switch.shape[1], n_changes.shape[1]))
    per_group = np.add.reduceat(switch[order].astype(np.float64), starts, axis=0)  # (G, E)
    g_seg, g_w = key[order][starts] // 4, key[order][starts] % 4
    pi = hit_probability(n_opp[g_seg][:, None], g_w[:, None], n_changes[g_seg])  # (G, P)
    return per_group.T @ pi


@dataclass(frozen=True)
class ElementExplanation:
    """The pair whose changes best explain the switches of one element: ``matrix``
    (``J_s``/``J_a``), ``row``, ``col`` (in that matrix), ``switches``, ``pair`` (label,
    None where no switch coincides with any pair's change) and ``pair_index`` (-1 then),
    ``share`` explained and its ``chance``."""

    matrix: str
    row: int
    col: int
    switches: int
    pair: str | None
    pair_index: int
    share: float
    chance: float

    @property
    def ratio(self) -> float:
        return _ratio(self.share, self.chance)


def element_explanations(
    counts: ElementPairCounts, pairs: Sequence[str]
) -> tuple[ElementExplanation, ...]:
    """One :class:`ElementExplanation` per element that switches at least once, J_s first,
    row-major (the order of the per-element table)."""
    n = counts.switches.shape[0]
    out = []
    for i, j in zip(*np.nonzero(counts.switches), strict=True):
        s = int(counts.switches[i, j])
        hits, expected = counts.coinciding[i, j], counts.expected[i, j]
        best = int(np.lexsort((np.arange(len(pairs)), expected, -hits))[0]) if len(pairs) else -1
        found = best >= 0 and hits[best] > 0
        out.append(
            ElementExplanation(
                matrix="J_s" if j < n else "J_a",
                row=int(i),
                col=int(j if j < n else j - n),
                switches=s,
                pair=pairs[best] if found else None,
                pair_index=best if found else -1,
                share=float(hits[best]) / s if found else 0.0,
                chance=float(expected[best]) / s if found else float("nan"),
            )
        )
    out.sort(key=lambda e: (e.matrix != "J_s", e.row, e.col))
    return tuple(out)


# -- contact phases (rollout figure) -----------------------------------------------------------
@dataclass(frozen=True)
class ContactPhase:
    """Steps [``t0``, ``t1``) of one episode in contact set ``members`` (pair indices)."""

    t0: int
    t1: int
    members: tuple[int, ...]


def contact_phases(contacts: np.ndarray, t: np.ndarray | None = None) -> tuple[ContactPhase, ...]:
    """The contact phases of one episode: ``contacts`` (T, P) of its steps in order, ``t``
    (T,) their steps (default 0..T-1); a new phase starts where the set changes."""
    contacts = np.asarray(contacts, bool)
    if contacts.ndim != 2:
        raise ValueError(f"contacts must be (T, P), got shape {contacts.shape}")
    t = np.arange(contacts.shape[0]) if t is None else np.asarray(t, np.int64)
    if t.shape != contacts.shape[:1]:
        raise ValueError(f"t has shape {t.shape}, contacts {contacts.shape}")
    if contacts.shape[0] == 0:
        return ()
    starts = np.concatenate([[0], np.flatnonzero(row_changes(contacts, np.ones(len(t), bool)))])
    ends = np.append(starts[1:], len(t))
    return tuple(
        ContactPhase(
            int(t[a]), int(t[b - 1]) + 1, tuple(int(p) for p in np.flatnonzero(contacts[a]))
        )
        for a, b in zip(starts, ends, strict=True)
    )


def shade_contact_phases(
    ax: Any,
    phases: Sequence[ContactPhase],
    pairs: Sequence[str],
    *,
    legend_top: int = 4,
    legend_loc: str = "upper right",
    alpha: float = 0.5,
) -> list[Any]:
    """Shade each phase on the matplotlib Axes ``ax`` (x = step, each step's value drawn at
    its t: the span is [t0 - 0.5, t1 - 0.5)) behind what is drawn there; one light colour per
    distinct set, the sets ranked by steps covered (ties: first seen). Adds a legend of the
    ``legend_top`` most covered sets (0: none), keeping a legend the Axes already has.
    Returns the patches, one per phase."""
    ranked = _rank_sets(phases)
    colour = {s: PHASE_COLOURS[r % len(PHASE_COLOURS)] for r, s in enumerate(ranked)}
    patches, first = [], {}
    for ph in phases:
        patch = ax.axvspan(
            ph.t0 - 0.5, ph.t1 - 0.5, color=colour[ph.members], alpha=alpha, lw=0, zorder=0
        )
        first.setdefault(ph.members, patch)
        patches.append(patch)
    shown = ranked[:legend_top]
    if shown:
        old = ax.get_legend()
        title = f"contact sets ({len(shown)} of {len(ranked)})"
        labels = [contact_set_label(s, pairs) for s in shown]
        handles = [first[s] for s in shown]
        ax.legend(handles, labels, loc=legend_loc, fontsize=7, title=title, title_fontsize=7)
        if old is not None:
            ax.add_artist(old)
    return patches


def _rank_sets(phases: Sequence[ContactPhase]) -> list[tuple[int, ...]]:
    steps: dict[tuple[int, ...], int] = {}
    for ph in phases:
        steps[ph.members] = steps.get(ph.members, 0) + ph.t1 - ph.t0
    seen = list(steps)
    return sorted(seen, key=lambda s: (-steps[s], seen.index(s)))


# -- everything for one recording --------------------------------------------------------------
@dataclass(frozen=True)
class ContactStats:
    """All contact statistics of some whole episodes; add those of further episodes."""

    sets: ContactSetSums
    histogram: SparsityByContacts
    alignment: SwitchAlignment
    elements: ElementPairCounts

    def __add__(self, other: ContactStats) -> ContactStats:
        return ContactStats(
            self.sets + other.sets,
            self.histogram + other.histogram,
            self.alignment + other.alignment,
            self.elements + other.elements,
        )


def episode_contact_stats(steps: Any) -> ContactStats:
    """:class:`ContactStats` of ``steps`` (a :class:`~jacwrap.recording.Steps` with contact
    data, holding whole episodes; check first with :func:`jacwrap.errors.require_contacts`)."""
    masks = (steps.zero_state, steps.zero_action, steps.contacts)
    where = (steps.episode, steps.t, steps.finite)
    return ContactStats(
        sets=contact_set_sums(steps.contacts, steps.sparsity, steps.finite),
        histogram=sparsity_by_contacts(steps.contacts, steps.sparsity, steps.finite),
        alignment=switch_alignment(*masks, *where),
        elements=element_pair_counts(*masks, *where),
    )


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")
