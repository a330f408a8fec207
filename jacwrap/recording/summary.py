"""Per-episode summary rows of recordings (``jacwrap summary``), and their text formats.

One row per episode, with stable keys (:data:`SUMMARY_KEYS`). Every statistic comes from
:mod:`jacwrap.episode_stats`, whose docstring defines each name: sparsity mean/min/max are
over the episode's finite steps; ``always_zero_*`` count the elements of J_s (J_a) zero at
every finite step; ``switches``, ``mean_zero_run`` and ``mean_nonzero_run`` are the pooled
statistics of the combined mask [J_s | J_a] (every run of every element counts once; runs
lasting the whole episode excluded, docs/SCIENCE.md Q3). The contact columns
(:data:`CONTACT_KEYS`, recordings with contact data) come from
:mod:`jacwrap.analysis.contact_stats`. Undefined values are NaN (JSON null).
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np

from jacwrap.episode_stats import episode_stats, sparsity_stats
from jacwrap.recording.reader import Recording
from jacwrap.recording.steps import Steps
from jacwrap.sparsity import SPARSITY_KINDS

#: Contact columns (jacwrap.analysis.contact_stats defines each; NaN without contact data):
#: mean pairs in contact per finite step; contact-set changes; zero-mask changes; the share of
#: mask changes within one step of a contact change, and its chance value; the share of
#: contact changes within one step of a mask change, and its chance value.
CONTACT_KEYS: tuple[str, ...] = (
    "contact_pairs_mean",
    "contact_changes",
    "mask_changes",
    "mask_changes_at_contact",
    "mask_changes_at_contact_chance",
    "contact_changes_changing_mask",
    "contact_changes_changing_mask_chance",
)

SUMMARY_KEYS: tuple[str, ...] = (
    "file",
    "env",
    "episode",
    "env_index",
    "complete",
    "steps",
    "finite_steps",
    "return",
    *(f"sparsity_{k}_{s}" for k in SPARSITY_KINDS for s in ("mean", "min", "max")),
    "always_zero_state",
    "always_zero_state_pct",
    "always_zero_action",
    "always_zero_action_pct",
    "switches",
    "mean_zero_run",
    "mean_nonzero_run",
    *CONTACT_KEYS,
)


def episode_row(steps: Steps) -> dict[str, Any]:
    """Statistics of one episode's steps (pure; the keys of :data:`SUMMARY_KEYS` from
    ``steps`` on), computed by :mod:`jacwrap.episode_stats`."""
    finite = np.asarray(steps.finite, bool)
    stats = episode_stats(steps.zero_state, steps.zero_action, finite)
    row: dict[str, Any] = {
        "steps": stats.steps,
        "finite_steps": stats.kept_steps,
        "return": float(np.sum(steps.reward)),
    }
    for kind, (mean, lo, hi) in sparsity_stats(steps.sparsity, finite).items():
        row[f"sparsity_{kind}_mean"] = mean
        row[f"sparsity_{kind}_min"] = lo
        row[f"sparsity_{kind}_max"] = hi
    row["always_zero_state"] = stats.state.always_zero_count
    row["always_zero_state_pct"] = stats.state.always_zero_pct
    row["always_zero_action"] = stats.action.always_zero_count
    row["always_zero_action_pct"] = stats.action.always_zero_pct
    combined = stats.combined
    row["switches"] = combined.total_switches
    row["mean_zero_run"] = combined.mean_zero
    row["mean_nonzero_run"] = combined.mean_nonzero
    row.update(contact_row(steps))
    return row


def contact_row(steps: Steps) -> dict[str, Any]:
    """The :data:`CONTACT_KEYS` of one episode's steps (NaN where it has no contact data)."""
    if getattr(steps, "contacts", None) is None:
        return dict.fromkeys(CONTACT_KEYS, math.nan)
    from jacwrap.analysis.contact_stats import switch_alignment

    finite = np.asarray(steps.finite, bool)
    align = switch_alignment(
        steps.zero_state, steps.zero_action, steps.contacts, steps.episode, steps.t, finite
    )
    a, b = align.mask_changes, align.contact_changes
    pairs = steps.contacts[finite].sum(axis=1)
    return {
        "contact_pairs_mean": float(pairs.mean()) if pairs.size else math.nan,
        "contact_changes": b.events,
        "mask_changes": a.events,
        "mask_changes_at_contact": a.share,
        "mask_changes_at_contact_chance": a.chance,
        "contact_changes_changing_mask": b.share,
        "contact_changes_changing_mask_chance": b.chance,
    }


def summarize(rec: Recording, label: str | None = None) -> list[dict[str, Any]]:
    """One row per episode of ``rec``, reading one episode at a time."""
    rows = []
    for ep in rec.episodes:
        steps = Steps.concat(list(rec.iter_chunks(ep.index)))
        row = {
            "file": label if label is not None else str(rec.path),
            "env": rec.header.env_name,
            "episode": ep.index,
            "env_index": ep.env_index,
            "complete": ep.complete,
        }
        row.update(episode_row(steps))
        row["return"] = ep.ret
        rows.append({k: row[k] for k in SUMMARY_KEYS})
    return rows


# -- formats -------------------------------------------------------------------------------------
def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def to_json(rows: list[dict[str, Any]]) -> str:
    """A JSON list of objects with the :data:`SUMMARY_KEYS` keys (NaN written as null)."""
    return json.dumps([{k: _jsonable(r[k]) for k in SUMMARY_KEYS} for r in rows], indent=2)


def to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV with a header row of :data:`SUMMARY_KEYS` (NaN written as ``nan``)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_KEYS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r[k] for k in SUMMARY_KEYS})
    return buf.getvalue()


def _num(v: float, fmt: str) -> str:
    return "-" if isinstance(v, float) and math.isnan(v) else format(v, fmt)


_TABLE = (
    ("env", lambda r: r["env"]),
    ("ep", lambda r: str(r["episode"]) + ("" if r["complete"] else "*")),
    ("env#", lambda r: str(r["env_index"])),
    ("steps", lambda r: str(r["steps"])),
    ("return", lambda r: _num(r["return"], ".2f")),
    *(
        (
            f"{name} mean [min,max]",
            lambda r, k=k: (
                f"{_num(r[f'sparsity_{k}_mean'], '.3f')} "
                f"[{_num(r[f'sparsity_{k}_min'], '.3f')},{_num(r[f'sparsity_{k}_max'], '.3f')}]"
            ),
        )
        for k, name in zip(SPARSITY_KINDS, ("J_s", "J_a", "[J_s|J_a]"), strict=True)
    ),
    (
        "J_s zero always",
        lambda r: f"{r['always_zero_state']} ({_num(r['always_zero_state_pct'], '.1f')}%)",
    ),
    (
        "J_a zero always",
        lambda r: f"{r['always_zero_action']} ({_num(r['always_zero_action_pct'], '.1f')}%)",
    ),
    ("switches", lambda r: str(r["switches"])),
    ("zero run", lambda r: _num(r["mean_zero_run"], ".2f")),
    ("nonzero run", lambda r: _num(r["mean_nonzero_run"], ".2f")),
    (
        "at contact (chance)",
        lambda r: (
            f"{_num(r['mask_changes_at_contact'], '.2f')} "
            f"({_num(r['mask_changes_at_contact_chance'], '.2f')})"
        ),
    ),
)


def to_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width text table (``*`` marks an incomplete episode; a ``file`` column is
    added when the rows come from several files)."""
    columns = list(_TABLE)
    if len({r["file"] for r in rows}) > 1:
        columns.insert(0, ("file", lambda r: str(r["file"])))
    cells = [[name for name, _ in columns]] + [[f(r) for _, f in columns] for r in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(columns))]
    lines = [
        "  ".join(
            c.rjust(w) if j else c.ljust(w)
            for j, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


FORMATS = {"table": to_table, "json": to_json, "csv": to_csv}
