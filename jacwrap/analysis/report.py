"""``analyze(files, out_dir)``: every Q1-Q3 table and figure for a set of recordings.

Files are grouped by environment (and by zero threshold, if files of one environment were
recorded with different thresholds; groups are never mixed). Each file is streamed on its
own through :class:`~jacwrap.analysis.accumulators.StreamStats` and merged into its group
only once it has been read to the end, so a file that turns out corrupt half-way is
skipped whole, with a message naming it, and the other files are still analysed.

Output layout (``DIR`` = ``out_dir``)::

    DIR/index.md                               every figure and table in order, one line each
    DIR/q1_global_sparsity.{csv,json,md}       Q1 table, one row per env
    DIR/<env>/summary.json                     every scalar of the env's analyses
    DIR/<env>/q2_zero_pct.png (+ _state.csv, _action.csv)
    DIR/<env>/q2_sparsity_hist.png (+ .csv)
    DIR/<env>/q2_tsne.png (+ .csv)             unless disabled or too few samples
    DIR/<env>/q3_rollout.png (+ .csv)
    DIR/<env>/q3_run_lengths.png (+ .csv)
    DIR/<env>/q3_mean_durations.{csv,md}
    DIR/<env>/contacts_sets.{csv,md}            with contact data (format version 2): the
    DIR/<env>/contacts_sparsity_hist.png (+ .csv)   contact section, "What changes the
    DIR/<env>/contacts_alignment.{csv,md}           sparsity" (README); without it, the
    DIR/<env>/contacts_elements.{csv,md}            "no contact data" sentence instead

The contact statistics (:mod:`jacwrap.analysis.contact_stats` defines each) are reduced
whole episode by whole episode (:class:`~jacwrap.analysis.contact_stream.ContactStream`)
in the same read of each file; the rollout figure shades its contact phases.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jacwrap.analysis import figures, tables
from jacwrap.analysis.accumulators import HIST_EDGES, StreamStats
from jacwrap.analysis.contact_stats import (
    ContactStats,
    contact_phases,
    contact_set_label,
    contact_set_table,
    element_explanations,
)
from jacwrap.analysis.contact_stream import ContactStream
from jacwrap.analysis.embedding import MIN_SAMPLES, PAPER_PERPLEXITY, tsne_embed
from jacwrap.episode_stats import RunLengths
from jacwrap.errors import JacwrapError, NoContactDataError, require_contacts
from jacwrap.sparsity import SPARSITY_KINDS

DEFAULT_TSNE_CAP = 2000
DEFAULT_TSNE_EPISODES = 10
#: Rows of the contact-set table (the most frequent sets; the rest lumped as ``other``).
CONTACT_SETS_TOP = 8
#: Switching elements shown in contacts_elements.md and summary.json (all in the CSV).
CONTACT_ELEMENTS_TOP = 20


@dataclass
class EnvGroup:
    """The recordings of one environment (at one threshold) and their merged statistics."""

    env_name: str
    threshold: float
    n: int
    m: int
    state_labels: tuple[str, ...]
    action_labels: tuple[str, ...]
    stats: StreamStats
    files: list[str] = field(default_factory=list)
    label: str = ""
    contact_pairs: tuple[str, ...] | None = None
    contacts: ContactStream = field(default_factory=ContactStream)
    contact_files: list[str] = field(default_factory=list)
    no_contacts: list[str] = field(default_factory=list)  # NoContactDataError's sentences

    def compatible(self, header: Any) -> str | None:
        """Why a file with this header cannot join the group (None if it can)."""
        if (header.n, header.m) != (self.n, self.m):
            return f"state/action dims ({header.n}, {header.m}) differ from ({self.n}, {self.m})"
        if tuple(header.state_labels) != self.state_labels:
            return "state variable labels differ from the other files of this env"
        if tuple(header.action_labels) != self.action_labels:
            return "action labels differ from the other files of this env"
        pairs = header.contact_pairs
        if None not in (pairs, self.contact_pairs) and tuple(pairs) != self.contact_pairs:
            return "contact pair labels differ from the other files of this env"
        return None

    def add_contacts(self, header: Any, path: str, contacts: ContactStream | str) -> None:
        """Merge a file's contact statistics, or keep why it has none."""
        if isinstance(contacts, str):
            self.no_contacts.append(contacts)
            return
        self.contact_pairs = tuple(header.contact_pairs)
        self.contacts.merge(contacts)
        self.contact_files.append(path)


@dataclass
class AnalysisResult:
    """What :func:`analyze` did: groups analysed, files skipped (with why), files written."""

    out_dir: Path
    groups: list[EnvGroup]
    skipped: list[tuple[str, str]]
    written: list[Path]
    index: Path | None

    @property
    def ok(self) -> bool:
        """True when at least one recording could be analysed."""
        return bool(self.groups)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def collect(
    files: Iterable[str | Path],
    *,
    tsne_cap: int = DEFAULT_TSNE_CAP,
    tsne_episodes: int = DEFAULT_TSNE_EPISODES,
    seed: int = 0,
    warn: Callable[[str], None] = _stderr,
) -> tuple[list[EnvGroup], list[tuple[str, str]]]:
    """Stream every file into per-env :class:`EnvGroup` statistics.

    Returns (groups, skipped) where skipped holds (file, reason) of files that could not be
    analysed (unreadable, corrupt, truncated, empty, incompatible); ``warn`` is told each.
    """
    from jacwrap.recording import RecordingError

    groups: dict[tuple[str, float], EnvGroup] = {}
    skipped: list[tuple[str, str]] = []
    for source, f in enumerate(files):
        path = str(f)
        try:
            read = _read_file(path, source, groups, tsne_cap, tsne_episodes, seed, warn)
        except (RecordingError, JacwrapError, OSError) as exc:
            msg = str(exc) or type(exc).__name__
            read = msg.removeprefix(f"{path}: ")  # recording errors name the file
        if isinstance(read, str):
            skipped.append((path, read))
            warn(f"jacwrap analyze: skipping {path}: {read}")
            continue
        h, st, contacts = read
        key = (h.env_name, float(h.threshold))
        if key not in groups:
            groups[key] = _new_group(h, tsne_cap, tsne_episodes)
        groups[key].stats.merge(st)
        groups[key].files.append(path)
        groups[key].add_contacts(h, path, contacts)
    return _ordered(groups.values()), skipped


def _read_file(
    path: str,
    source: int,
    groups: dict[tuple[str, float], EnvGroup],
    tsne_cap: int,
    tsne_episodes: int,
    seed: int,
    warn: Callable[[str], None],
) -> tuple[Any, StreamStats, ContactStream | str] | str:
    """(header, statistics, contact statistics or why there are none) of one file read to
    its end, or why it cannot join its group."""
    from jacwrap.recording import open_recording

    with open_recording(path) as rec:
        h = rec.header
        if rec.num_steps == 0:
            return "empty recording (0 steps)"
        group = groups.get((h.env_name, float(h.threshold)))
        if group is not None and (why := group.compatible(h)):
            return f"{h.env_name}: {why}"
        room = tsne_episodes - (len(group.stats.tsne.episodes) if group else 0)
        st = StreamStats(
            h.n, h.m, tsne_cap=tsne_cap, tsne_episodes=room, seed=seed + source, source=source
        )
        contacts = _contact_stream(h, path)
        for chunk in rec.iter_chunks():
            st.update(chunk)
            if isinstance(contacts, ContactStream):
                contacts.update(chunk)
        st.finish()
        if isinstance(contacts, ContactStream):
            contacts.finish()
        if rec.truncated_tail:
            warn(f"jacwrap analyze: {path}: {rec.truncated_tail}")
    return h, st, contacts


def _contact_stream(header: Any, path: str) -> ContactStream | str:
    """A stream for the file's contact statistics, or the sentence saying it has no contact
    data (:class:`~jacwrap.errors.NoContactDataError`); the other analyses run either way."""
    try:
        require_contacts(header, path)
    except NoContactDataError as exc:
        return str(exc)
    return ContactStream()


def _new_group(h: Any, tsne_cap: int, tsne_episodes: int) -> EnvGroup:
    return EnvGroup(
        env_name=h.env_name,
        threshold=float(h.threshold),
        n=h.n,
        m=h.m,
        state_labels=tuple(h.state_labels),
        action_labels=tuple(h.action_labels),
        stats=StreamStats(h.n, h.m, tsne_cap=tsne_cap, tsne_episodes=tsne_episodes),
    )


def _ordered(groups: Iterable[EnvGroup]) -> list[EnvGroup]:
    """Groups in the paper's env order; labels ``Env@thr=...`` where an env has several."""
    ordered = sorted(groups, key=lambda g: (_env_order(g.env_name), g.threshold))
    names = [g.env_name for g in ordered]
    for g in ordered:
        g.label = (
            g.env_name if names.count(g.env_name) == 1 else f"{g.env_name}@thr={g.threshold:g}"
        )
    return ordered


def _env_order(name: str) -> tuple[int, str]:
    from jacwrap.envs import PAPER_ENVS

    return (PAPER_ENVS.index(name) if name in PAPER_ENVS else len(PAPER_ENVS), name)


def _num(x: float) -> str:
    return "-" if np.isnan(x) else f"{x:.2f}"


def _dirname(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=@-]+", "_", label)


@dataclass
class _Index:
    """The lines of index.md, and every file written, in order."""

    out_dir: Path
    lines: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    def rel(self, p: Path) -> str:
        return p.relative_to(self.out_dir).as_posix()

    def figure(self, png: Path, line: str, data: Sequence[Path]) -> None:
        self.written += [png, *data]
        links = ", ".join(f"[{p.name}]({self.rel(p)})" for p in data)
        self.lines += [f"![{png.stem}]({self.rel(png)})", "", f"{line} Data: {links}.", ""]

    def table(self, line: str, data: Sequence[Path]) -> None:
        self.written += list(data)
        links = ", ".join(f"[{self.rel(p)}]({self.rel(p)})" for p in data)
        self.lines += [f"{line} Files: {links}.", ""]


def analyze(
    files: Iterable[str | Path],
    out_dir: str | Path,
    *,
    tsne: bool = True,
    tsne_cap: int = DEFAULT_TSNE_CAP,
    tsne_episodes: int = DEFAULT_TSNE_EPISODES,
    perplexity: float = PAPER_PERPLEXITY,
    seed: int = 0,
    warn: Callable[[str], None] = _stderr,
) -> AnalysisResult:
    """Analyse recordings (Q1-Q3) and write figures, their data and ``index.md`` to ``out_dir``.

    Files that cannot be analysed are reported through ``warn`` and listed in the result
    and in index.md; nothing is written when no file could be analysed.
    """
    files = [str(f) for f in files]
    groups, skipped = collect(
        files,
        tsne_cap=tsne_cap if tsne else 0,
        tsne_episodes=tsne_episodes if tsne else 0,
        seed=seed,
        warn=warn,
    )
    out = Path(out_dir)
    if not groups:
        return AnalysisResult(out, [], skipped, [], None)
    out.mkdir(parents=True, exist_ok=True)
    idx = _Index(out)
    _index_head(idx, groups, skipped, len(files))
    _q1_table(idx, groups)
    for g in groups:
        _write_env(g, out / _dirname(g.label), idx, tsne=tsne, perplexity=perplexity, seed=seed)
    index = out / "index.md"
    index.write_text("\n".join(idx.lines).rstrip() + "\n")
    return AnalysisResult(out, groups, skipped, [*idx.written, index], index)


def _index_head(
    idx: _Index, groups: Sequence[EnvGroup], skipped: Sequence[tuple[str, str]], total: int
) -> None:
    """The title of index.md and the files analysed and skipped."""
    idx.lines += ["# jacwrap analysis", ""]
    idx.lines += [f"Recordings analysed: {sum(len(g.files) for g in groups)} of {total}.", ""]
    for g in groups:
        idx.lines.append(f"- {g.label}: " + ", ".join(f"`{f}`" for f in g.files))
    for path, reason in skipped:
        idx.lines.append(f"- skipped `{path}`: {reason}")
    idx.lines.append("")


def _q1_table(idx: _Index, groups: Sequence[EnvGroup]) -> None:
    """The Q1 global-sparsity table, one row per env (CSV, JSON, Markdown)."""
    out = idx.out_dir
    rows = [tables.q1_row(g.label, g.stats.zeros, g.threshold) for g in groups]
    q1 = [
        tables.write_csv(out / "q1_global_sparsity.csv", rows, tables.Q1_COLUMNS),
        tables.write_json(out / "q1_global_sparsity.json", rows),
        out / "q1_global_sparsity.md",
    ]
    q1[2].write_text(tables.q1_markdown(rows))
    idx.lines += ["## Q1 global sparsity", "", tables.q1_markdown(rows)]
    idx.table(
        "Elements of J_s and J_a zero in every finite sample (an upper bound on the true "
        "global sparsity), one row per env; non-finite steps are excluded and counted.",
        q1,
    )


def _write_env(
    g: EnvGroup, d: Path, idx: _Index, *, tsne: bool, perplexity: float, seed: int
) -> None:
    """One env's section of the report: each figure or table by its own writer, in order."""
    d.mkdir(parents=True, exist_ok=True)
    _env_heading(g, idx)
    _q2_zero_pct(g, d, idx)
    _q2_sparsity_hist(g, d, idx)
    tsne_info = _q2_tsne(g, d, idx, tsne=tsne, perplexity=perplexity, seed=seed)
    _q3_rollout(g, d, idx)
    _q3_run_lengths(g, d, idx)
    _q3_durations(g, d, idx)
    contact_info = _contacts(g, d, idx)
    _env_summary(g, d, idx, tsne_info, contact_info)


def _head(g: EnvGroup) -> str:
    return f"{g.label}: {g.stats.zeros.samples} samples"


def _env_heading(g: EnvGroup, idx: _Index) -> None:
    z, runs = g.stats.zeros, g.stats.runs
    idx.lines += [f"## {g.label}", ""]
    idx.lines += [
        f"{g.stats.steps} steps from {len(g.files)} file(s), {z.samples} finite samples, "
        f"{z.nonfinite} non-finite steps excluded, {runs.state.episodes} episodes, "
        f"zero threshold {g.threshold:g}.",
        "",
    ]


def _q2_zero_pct(g: EnvGroup, d: Path, idx: _Index) -> None:
    """Q2 heatmaps of the percentage of samples in which each element is zero."""
    z, sl, al = g.stats.zeros, g.state_labels, g.action_labels
    cs = tables.write_csv(
        d / "q2_zero_pct_state.csv", tables.matrix_rows(z.zero_pct_state, sl, sl), ["", *sl]
    )
    ca = tables.write_csv(
        d / "q2_zero_pct_action.csv", tables.matrix_rows(z.zero_pct_action, sl, al), ["", *al]
    )
    png = figures.zero_pct_heatmaps(
        z.zero_pct_state, z.zero_pct_action, sl, al, f"{_head(g)}: % of samples zero",
        d / "q2_zero_pct.png",
    )  # fmt: skip
    idx.figure(
        png,
        "Q2: per element, the percentage of samples in which it is zero "
        "(rows: next-state variables; 100 % = globally zero).",
        [cs, ca],
    )


def _q2_sparsity_hist(g: EnvGroup, d: Path, idx: _Index) -> None:
    """Q2 density histograms of the per-sample sparsity, means marked."""
    z = g.stats.zeros
    dens, means = z.hist_density, z.mean_sparsity
    hist_rows = []
    for b in range(dens.shape[1]):
        row: dict[str, Any] = {"bin_lo": HIST_EDGES[b], "bin_hi": HIST_EDGES[b + 1]}
        for k, kind in enumerate(SPARSITY_KINDS):
            row[f"count_{kind}"] = int(z.hist[k, b])
            row[f"density_{kind}"] = float(dens[k, b])
        hist_rows.append(row)
    hcsv = tables.write_csv(d / "q2_sparsity_hist.csv", hist_rows, list(hist_rows[0]))
    png = figures.sparsity_histograms(
        dens[:2], means[:2], f"{_head(g)}: per-sample sparsity", d / "q2_sparsity_hist.png"
    )
    idx.figure(
        png,
        f"Q2: density histograms (bins of 0.1) of the per-sample sparsity of J_s and J_a, "
        f"means marked (J_s {means[0]:.3f}, J_a {means[1]:.3f}).",
        [hcsv],
    )


def _q2_tsne(
    g: EnvGroup, d: Path, idx: _Index, *, tsne: bool, perplexity: float, seed: int
) -> dict[str, Any]:
    """Q2 t-SNE of (s, a, s'), or the line saying why it is not drawn; returns its summary."""
    info: dict[str, Any] = {"enabled": tsne}
    sample = g.stats.tsne
    if not (tsne and len(sample) >= MIN_SAMPLES):
        why = "disabled (--no-tsne)" if not tsne else f"only {len(sample)} finite samples"
        idx.lines += [f"Q2 t-SNE: not drawn, {why}.", ""]
        info["skipped"] = why
        return info
    xy, p = tsne_embed(sample.x, perplexity, seed)
    note = (
        f"{len(sample)} of {sample.eligible} finite steps of the first "
        f"{len(sample.episodes)} episodes (cap {sample.cap} samples, "
        f"{sample.max_episodes} episodes); features z-scored; perplexity {p:g}."
    )
    rows = _tsne_rows(g, xy)
    tcsv = tables.write_csv(d / "q2_tsne.csv", rows, list(rows[0]))
    png = figures.tsne_scatter(
        xy, sample.sparsity, f"{g.label}: t-SNE of (s, a, s')", note, d / "q2_tsne.png"
    )
    idx.figure(png, f"Q2: t-SNE of (s, a, s') coloured by combined sparsity; {note}", [tcsv])
    info.update(samples=len(sample), eligible=sample.eligible, cap=sample.cap,
                episodes=len(sample.episodes), perplexity=p)  # fmt: skip
    return info


def _tsne_rows(g: EnvGroup, xy: np.ndarray) -> list[dict[str, Any]]:
    sample = g.stats.tsne
    return [
        {
            "tsne_1": float(a),
            "tsne_2": float(b),
            "combined_sparsity": float(c),
            "file": g.files[0] if len(g.files) == 1 else int(s),
            "episode": int(e),
            "t": int(t),
        }
        for a, b, c, s, e, t in zip(
            xy[:, 0], xy[:, 1], sample.sparsity, sample.src, sample.episode, sample.t,
            strict=True,
        )
    ]  # fmt: skip


def _q3_rollout(g: EnvGroup, d: Path, idx: _Index) -> None:
    """Q3 per-step sparsity of J_s and J_a over the first episode (nothing if none)."""
    ro = g.stats.runs.rollout
    if ro is None:
        return
    sp = np.where(ro.finite[:, None], ro.sparsity, np.nan)
    ro_rows = [
        {"t": int(t), **{k: float(v) for k, v in zip(SPARSITY_KINDS, s, strict=True)},
         "finite": bool(f)}
        for t, s, f in zip(ro.t, sp, ro.finite, strict=True)
    ]  # fmt: skip
    columns = ["t", *SPARSITY_KINDS, "finite"]
    pairs = g.contact_pairs or ()
    shaded = ro.contacts is not None and len(pairs) > 0  # no pairs: nothing to shade
    if shaded:
        for row, c in zip(ro_rows, ro.contacts, strict=True):
            row["contact_set"] = contact_set_label(c, pairs)
        columns.append("contact_set")
    rcsv = tables.write_csv(d / "q3_rollout.csv", ro_rows, columns)
    src = g.files[0]
    png = figures.rollout_sparsity(
        ro.t, sp, f"{g.label}: sparsity per step, episode {ro.episode} of {Path(src).name}",
        d / "q3_rollout.png", contact_phases(ro.contacts, ro.t) if shaded else (), pairs,
    )  # fmt: skip
    shading = (
        "; shaded: its contact phases, one colour per contact set (the legend names the "
        "most covered sets)"
        if shaded
        else ""
    )
    idx.figure(
        png,
        f"Q3: per-step sparsity of J_s and J_a over one rollout (episode {ro.episode} of "
        f"`{src}`, {ro.t.size} steps){shading}.",
        [rcsv],
    )


def _q3_run_lengths(g: EnvGroup, d: Path, idx: _Index) -> None:
    """Q3 log-log histograms of zero / non-zero run lengths, pooled mean durations."""
    state, action = g.stats.runs.state, g.stats.runs.action
    lcsv = tables.write_csv(
        d / "q3_run_lengths.csv", _run_length_rows(state, action),
        ["length", "zero_J_s", "nonzero_J_s", "zero_J_a", "nonzero_J_a"],
    )  # fmt: skip
    png = figures.run_length_histograms(
        [
            ("J_s", state.zero_hist, state.nonzero_hist, state.mean_zero, state.mean_nonzero),
            ("J_a", action.zero_hist, action.nonzero_hist, action.mean_zero,
             action.mean_nonzero),
        ],
        f"{g.label}: run lengths over {state.episodes} episodes",
        d / "q3_run_lengths.png",
    )  # fmt: skip
    idx.figure(
        png,
        "Q3: log-log histograms of the lengths of zero and non-zero runs of every element "
        "(runs lasting a whole episode excluded); mean zero / non-zero durations in steps "
        f"J_s {_num(state.mean_zero)} / {_num(state.mean_nonzero)}, "
        f"J_a {_num(action.mean_zero)} / {_num(action.mean_nonzero)} "
        "(- : no element switched).",
        [lcsv],
    )


def _run_length_rows(state: RunLengths, action: RunLengths) -> list[dict[str, Any]]:
    """One row per run length that occurs: how many runs of each kind have it."""
    hists = {
        "zero_J_s": state.zero_hist,
        "nonzero_J_s": state.nonzero_hist,
        "zero_J_a": action.zero_hist,
        "nonzero_J_a": action.nonzero_hist,
    }
    longest = max(v.size for v in hists.values())
    padded = {k: np.pad(v, (0, longest - v.size)) for k, v in hists.items()}
    total = sum(padded.values())
    return [
        {"length": L, **{k: int(v[L]) for k, v in padded.items()}}
        for L in np.flatnonzero(total).tolist()
    ]


def _q3_durations(g: EnvGroup, d: Path, idx: _Index) -> None:
    """Q3 per-element mean durations, run counts, switches and zero % (CSV and Markdown)."""
    erows = tables.element_rows(g.stats.zeros, g.stats.runs, g.state_labels, g.action_labels)
    ecsv = tables.write_csv(d / "q3_mean_durations.csv", erows, tables.ELEMENT_COLUMNS)
    emd = d / "q3_mean_durations.md"
    emd.write_text(
        f"# {g.label}: mean run durations per element\n\n" + tables.durations_markdown(erows)
    )
    idx.table(
        "Q3: per element, mean zero and non-zero run durations (steps), run counts, switches "
        "and zero %.",
        [ecsv, emd],
    )


def _contacts(g: EnvGroup, d: Path, idx: _Index) -> dict[str, Any]:
    """What changes the sparsity: the contact tables and figure of the files with contact
    data, and the "no contact data" sentence of each file without; returns the summary."""
    idx.lines += ["### What changes the sparsity: contacts", ""]
    idx.lines += [f"- {why}" for why in g.no_contacts]
    if g.no_contacts:
        idx.lines.append("")
    info: dict[str, Any] = {"pairs": g.contact_pairs, "files": g.contact_files,
                            "absent": g.no_contacts}  # fmt: skip
    stats = g.contacts.stats
    if stats is None:
        return info
    pairs = g.contact_pairs or ()
    idx.lines += [
        f"Over the {g.contacts.episodes} episodes of the {len(g.contact_files)} file(s) with "
        f"contact data; {len(pairs)} candidate contact pairs"
        + (
            " (the model has none: its contacts are disabled or every geom pair is filtered "
            "out, so the contact set is always {})."
            if not pairs
            else f": {', '.join(pairs)}."
        ),
        "",
    ]
    info["episodes"] = g.contacts.episodes
    info["sets"] = _contact_sets(g, stats, d, idx)
    info["steps_by_pairs_in_contact"] = _contact_hist(g, stats, d, idx)
    info["alignment"] = _contact_alignment(g, stats, d, idx)
    info.update(_contact_elements(g, stats, d, idx))
    return info


def _contact_sets(g: EnvGroup, stats: ContactStats, d: Path, idx: _Index) -> list[dict]:
    """Mean sparsity of J_s and J_a per contact set, the most frequent sets (CSV, Markdown)."""
    rows = tables.contact_set_rows(
        contact_set_table(stats.sets, g.contact_pairs or (), top=CONTACT_SETS_TOP)
    )
    csv = tables.write_csv(d / "contacts_sets.csv", rows, tables.CONTACT_SET_COLUMNS)
    md = d / "contacts_sets.md"
    md.write_text(f"# {g.label}: sparsity per contact set\n\n" + tables.contact_sets_markdown(rows))
    idx.lines += [tables.contact_sets_markdown(rows)]
    idx.table(
        f"Contacts: mean per-sample sparsity of J_s and J_a per contact set (the pairs in "
        f"contact at any substep of the step), the {CONTACT_SETS_TOP} most frequent sets "
        "with their finite steps and share of them, the rest as `other`.",
        [csv, md],
    )
    return rows


def _contact_hist(g: EnvGroup, stats: ContactStats, d: Path, idx: _Index) -> list[int]:
    """Per-sample sparsity histograms split by the number of pairs in contact (PNG, CSV)."""
    h = stats.histogram
    csv = tables.write_csv(
        d / "contacts_sparsity_hist.csv", tables.contact_hist_rows(h),
        ["pairs_in_contact", "bin_lo", "bin_hi", "count_state", "count_action"],
    )  # fmt: skip
    png = figures.sparsity_by_contact_count(
        h.state, h.action, f"{_head(g)}: per-sample sparsity by pairs in contact",
        d / "contacts_sparsity_hist.png",
    )  # fmt: skip
    steps = h.steps.tolist()
    counts = ", ".join(f"{c}: {n}" for c, n in enumerate(steps) if n)
    idx.figure(
        png,
        "Contacts: density histograms (bins of 0.1) of the per-sample sparsity of J_s and "
        f"J_a, one line per number of pairs in contact (finite steps per number: {counts}).",
        [csv],
    )
    return steps


def _contact_alignment(g: EnvGroup, stats: ContactStats, d: Path, idx: _Index) -> list[dict]:
    """How zero-mask changes and contact-set changes line up, against chance (CSV, Markdown)."""
    rows = tables.alignment_rows(stats.alignment)
    csv = tables.write_csv(d / "contacts_alignment.csv", rows, tables.ALIGNMENT_COLUMNS)
    md = d / "contacts_alignment.md"
    md.write_text(
        f"# {g.label}: zero-mask changes against contact changes\n\n"
        + tables.alignment_markdown(rows)
    )
    idx.lines += [tables.alignment_markdown(rows)]
    idx.table(
        "Contacts: the share of zero-mask changes within one step of a contact-set change, "
        "the share of contact-set changes within one step of a zero-mask change, and each "
        "share's exact chance value had the other kind's changes of each episode been placed "
        f"at random ({stats.alignment.opportunities} pairs of consecutive finite steps).",
        [csv, md],
    )
    return rows


def _contact_elements(g: EnvGroup, stats: ContactStats, d: Path, idx: _Index) -> dict:
    """Per switching element, the contact pair whose changes best explain its switches."""
    rows = tables.element_pair_rows(
        element_explanations(stats.elements, g.contact_pairs or ()),
        g.state_labels, g.action_labels,
    )  # fmt: skip
    csv = tables.write_csv(d / "contacts_elements.csv", rows, tables.ELEMENT_PAIR_COLUMNS)
    md = d / "contacts_elements.md"
    md.write_text(
        f"# {g.label}: which contact pair each switching element follows\n\n"
        + tables.element_pairs_markdown(rows, CONTACT_ELEMENTS_TOP)
    )
    explained = sum(r["pair"] is not None for r in rows)
    idx.table(
        f"Contacts: for each of the {len(rows)} elements that switch, the pair whose changes "
        f"coincide (within one step) with most of its switches, the share of switches so "
        f"explained and its chance value ({explained} elements have such a pair).",
        [csv, md],
    )
    top = sorted(rows, key=lambda r: -r["switches"])[:CONTACT_ELEMENTS_TOP]
    return {"elements_switching": len(rows), "elements_explained": explained,
            "elements_top": top}  # fmt: skip


def _env_summary(
    g: EnvGroup, d: Path, idx: _Index, tsne_info: dict[str, Any], contact_info: dict[str, Any]
) -> None:
    """``summary.json``: every scalar of the env's analyses."""
    z, runs, sl, al = g.stats.zeros, g.stats.runs, g.state_labels, g.action_labels
    dens = z.hist_density
    summary = {
        "env": g.env_name,
        "label": g.label,
        "files": g.files,
        "threshold": g.threshold,
        "state_labels": list(sl),
        "action_labels": list(al),
        "steps": g.stats.steps,
        "q1": tables.q1_row(g.label, z, g.threshold),
        "global_zero_state": _pairs(z.global_zero_state, sl, sl),
        "global_zero_action": _pairs(z.global_zero_action, sl, al),
        "mean_sparsity": dict(zip(SPARSITY_KINDS, z.mean_sparsity.tolist(), strict=True)),
        "hist_edges": HIST_EDGES,
        "hist_density": {k: dens[i] for i, k in enumerate(SPARSITY_KINDS)},
        "episodes": runs.state.episodes,
        "mean_run": {
            "zero_J_s": runs.state.mean_zero,
            "nonzero_J_s": runs.state.mean_nonzero,
            "zero_J_a": runs.action.mean_zero,
            "nonzero_J_a": runs.action.mean_nonzero,
        },
        "tsne": tsne_info,
        "contacts": contact_info,
    }
    idx.table(
        "Every number above for this env (JSON).", [tables.write_json(d / "summary.json", summary)]
    )


def _pairs(mask: np.ndarray, rows: Sequence[str], cols: Sequence[str]) -> list[str]:
    """``"row <- col"`` for every True element of ``mask``."""
    return [f"{rows[i]} <- {cols[j]}" for i, j in zip(*np.nonzero(mask), strict=True)]
