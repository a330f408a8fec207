"""Tables of the sparsity analyses (Q1 global sparsity, Q3 per-element durations, contacts).

Pure functions from accumulated statistics to rows (lists of dicts), and writers of rows
as CSV, JSON and Markdown. Nothing is computed here that the accumulators do not hold.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jacwrap.analysis.accumulators import HIST_EDGES, EpisodeRuns, ZeroStats
from jacwrap.analysis.contact_stats import (
    ContactSetRow,
    ElementExplanation,
    SparsityByContacts,
    SwitchAlignment,
)

#: Columns of the Q1 table (the paper's Table 1, plus the sample counts it rests on).
Q1_COLUMNS = (
    "env",
    "state_dim",
    "action_dim",
    "state_zeros",
    "state_zeros_pct",
    "action_zeros",
    "action_zeros_pct",
    "samples",
    "nonfinite_excluded",
    "threshold",
)

#: Columns of the per-element table (Q2 zero percentage and Q3 mean run durations).
ELEMENT_COLUMNS = (
    "matrix",
    "row",
    "col",
    "row_label",
    "col_label",
    "zero_pct",
    "global_zero",
    "mean_zero_run",
    "mean_nonzero_run",
    "zero_runs",
    "nonzero_runs",
    "switches",
)


def q1_row(env: str, zeros: ZeroStats, threshold: float) -> dict[str, Any]:
    """One row of the Q1 table: elements zero in every finite sample, for J_s and J_a."""
    ns, na = zeros.n * zeros.n, zeros.n * zeros.m
    gs, ga = int(zeros.global_zero_state.sum()), int(zeros.global_zero_action.sum())
    return {
        "env": env,
        "state_dim": zeros.n,
        "action_dim": zeros.m,
        "state_zeros": gs,
        "state_zeros_pct": 100.0 * gs / ns if ns else math.nan,
        "action_zeros": ga,
        "action_zeros_pct": 100.0 * ga / na if na else math.nan,
        "samples": zeros.samples,
        "nonfinite_excluded": zeros.nonfinite,
        "threshold": threshold,
    }


def q1_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The Q1 table in the paper's layout: zeros as "count (pct)"."""
    head = (
        "| env | state dim | action dim | J_s zeros | J_a zeros | samples | non-finite excluded |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['env']} | {r['state_dim']} | {r['action_dim']} "
            f"| {r['state_zeros']} ({r['state_zeros_pct']:.1f}%) "
            f"| {r['action_zeros']} ({r['action_zeros_pct']:.1f}%) "
            f"| {r['samples']} | {r['nonfinite_excluded']} |"
        )
    return "\n".join(lines) + "\n"


def element_rows(
    zeros: ZeroStats,
    runs: EpisodeRuns,
    state_labels: Sequence[str],
    action_labels: Sequence[str],
) -> list[dict[str, Any]]:
    """One row per Jacobian element (J_s first, row-major): zero % and mean run durations."""
    rows: list[dict[str, Any]] = []
    for matrix, pct, glob, rl, cols in (
        ("J_s", zeros.zero_pct_state, zeros.global_zero_state, runs.state, state_labels),
        ("J_a", zeros.zero_pct_action, zeros.global_zero_action, runs.action, action_labels),
    ):
        mz, mnz = rl.mean_zero_per_element, rl.mean_nonzero_per_element
        for i, j in np.ndindex(pct.shape):
            rows.append(
                {
                    "matrix": matrix,
                    "row": i,
                    "col": j,
                    "row_label": state_labels[i],
                    "col_label": cols[j],
                    "zero_pct": float(pct[i, j]),
                    "global_zero": bool(glob[i, j]),
                    "mean_zero_run": float(mz[i, j]),
                    "mean_nonzero_run": float(mnz[i, j]),
                    "zero_runs": int(rl.zero_runs[i, j]),
                    "nonzero_runs": int(rl.nonzero_runs[i, j]),
                    "switches": int(rl.switches[i, j]),
                }
            )
    return rows


def durations_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of the mean run durations of the elements that ever switch."""
    lines = [
        "| matrix | next-state variable | input variable | zero % | mean zero run "
        "| mean non-zero run | zero runs | non-zero runs |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    shown = [r for r in rows if r["switches"] > 0]
    for r in shown:
        lines.append(
            f"| {r['matrix']} | {r['row_label']} | {r['col_label']} | {r['zero_pct']:.1f} "
            f"| {_fmt(r['mean_zero_run'])} | {_fmt(r['mean_nonzero_run'])} "
            f"| {r['zero_runs']} | {r['nonzero_runs']} |"
        )
    if not shown:
        lines.append("| (no element switches between zero and non-zero) | | | | | | | |")
    return "\n".join(lines) + "\n"


def _fmt(x: float, spec: str = ".2f") -> str:
    return "-" if math.isnan(x) else f"{x:{spec}}"


# -- contacts (jacwrap.analysis.contact_stats defines every statistic) -------------------------
#: Columns of the contact-set table: per set its finite steps, their share, mean sparsity.
CONTACT_SET_COLUMNS = (
    "contact_set",
    "sets",
    "steps",
    "share",
    "mean_sparsity_state",
    "mean_sparsity_action",
)

#: Columns of the switch-alignment table, one row per kind of event.
ALIGNMENT_COLUMNS = (
    "events_of",
    "near",
    "events",
    "coinciding",
    "share",
    "expected",
    "chance",
    "ratio",
    "opportunities",
)

#: Columns of the per-element table: each switching element's best-explaining pair.
ELEMENT_PAIR_COLUMNS = (
    "matrix",
    "row",
    "col",
    "row_label",
    "col_label",
    "switches",
    "pair",
    "share",
    "chance",
    "ratio",
)


def contact_set_rows(table: Sequence[ContactSetRow]) -> list[dict[str, Any]]:
    """Rows of :func:`~jacwrap.analysis.contact_stats.contact_set_table` as dicts."""
    return [
        {
            "contact_set": r.label,
            "sets": r.sets,
            "steps": r.count,
            "share": r.share,
            "mean_sparsity_state": r.mean_state,
            "mean_sparsity_action": r.mean_action,
        }
        for r in table
    ]


def contact_sets_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The contact-set table: set, steps, share of the finite steps, mean J_s / J_a sparsity."""
    lines = [
        "| contact set | steps | share | mean sparsity J_s | mean sparsity J_a |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        label = r["contact_set"]  # a set's label has braces; "other" lumps the rest
        label = f"other ({r['sets']} sets)" if label == "other" else label
        lines.append(
            f"| {label} | {r['steps']} | {_fmt(r['share'], '.3f')} "
            f"| {_fmt(r['mean_sparsity_state'], '.3f')} "
            f"| {_fmt(r['mean_sparsity_action'], '.3f')} |"
        )
    return "\n".join(lines) + "\n"


def contact_hist_rows(hist: SparsityByContacts) -> list[dict[str, Any]]:
    """One row per (number of pairs in contact that occurs, sparsity bin): step counts."""
    return [
        {
            "pairs_in_contact": int(c),
            "bin_lo": HIST_EDGES[b],
            "bin_hi": HIST_EDGES[b + 1],
            "count_state": int(hist.state[c, b]),
            "count_action": int(hist.action[c, b]),
        }
        for c in np.flatnonzero(hist.steps)
        for b in range(hist.state.shape[1])
    ]


def alignment_rows(al: SwitchAlignment) -> list[dict[str, Any]]:
    """(a) zero-mask changes near a contact change, (b) contact changes near a mask change."""
    return [
        {
            "events_of": kind,
            "near": near,
            "events": c.events,
            "coinciding": c.coinciding,
            "share": c.share,
            "expected": c.expected,
            "chance": c.chance,
            "ratio": c.ratio,
            "opportunities": al.opportunities,
        }
        for kind, near, c in (
            ("zero_mask", "contact_change", al.mask_changes),
            ("contact_set", "zero_mask_change", al.contact_changes),
        )
    ]


def alignment_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The switch-alignment table: events, within one step of the other kind, chance."""
    what = {"zero_mask": "zero-mask changes", "contact_set": "contact-set changes"}
    near = {"contact_change": "a contact change", "zero_mask_change": "a zero-mask change"}
    lines = [
        "| changes of | count | within one step of | share | chance | share / chance |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {what[r['events_of']]} | {r['events']} | {near[r['near']]} "
            f"| {_fmt(r['share'], '.3f')} | {_fmt(r['chance'], '.3f')} "
            f"| {_fmt(r['ratio'], '.2f')} |"
        )
    return "\n".join(lines) + "\n"


def element_pair_rows(
    expl: Sequence[ElementExplanation],
    state_labels: Sequence[str],
    action_labels: Sequence[str],
) -> list[dict[str, Any]]:
    """Rows of :func:`~jacwrap.analysis.contact_stats.element_explanations` with labels."""
    return [
        {
            "matrix": e.matrix,
            "row": e.row,
            "col": e.col,
            "row_label": state_labels[e.row],
            "col_label": (state_labels if e.matrix == "J_s" else action_labels)[e.col],
            "switches": e.switches,
            "pair": e.pair,
            "share": e.share,
            "chance": e.chance,
            "ratio": e.ratio,
        }
        for e in expl
    ]


def element_pairs_markdown(rows: Sequence[dict[str, Any]], top: int = 20) -> str:
    """The ``top`` elements with the most switches (ties: table order) and their best pair."""
    shown = sorted(rows, key=lambda r: -r["switches"])[:top]
    lines = [
        f"{len(shown)} of {len(rows)} switching elements, most switches first (all in the CSV).",
        "",
        "| matrix | next-state variable | input variable | switches | best pair | share "
        "| chance | share / chance |",
        "|---|---|---|---:|---|---:|---:|---:|",
    ]
    for r in shown:
        lines.append(
            f"| {r['matrix']} | {r['row_label']} | {r['col_label']} | {r['switches']} "
            f"| {r['pair'] or '(none)'} | {_fmt(r['share'], '.3f')} "
            f"| {_fmt(r['chance'], '.3f')} | {_fmt(r['ratio'], '.2f')} |"
        )
    if not shown:
        lines.append("| (no element switches between zero and non-zero) | | | | | | | |")
    return "\n".join(lines) + "\n"


def matrix_rows(
    matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str]
) -> list[dict[str, Any]]:
    """A labelled matrix as rows: ``{"": row_label, col_label: value, ...}``."""
    return [
        {"": row_labels[i], **{c: float(matrix[i, j]) for j, c in enumerate(col_labels)}}
        for i in range(matrix.shape[0])
    ]


def write_csv(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Path:
    """Write rows (dicts) as CSV with the given column order."""
    path = Path(path)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def write_json(path: Path, obj: Any) -> Path:
    """Write JSON (NaN becomes null, numpy scalars/arrays become numbers/lists)."""
    path = Path(path)
    path.write_text(json.dumps(_jsonable(obj), indent=2) + "\n")
    return path


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return None if math.isnan(obj) else float(obj)
    return obj
