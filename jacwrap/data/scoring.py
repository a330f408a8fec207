"""Score any dynamics model s' = f(s, a) against a recording's ground truth (docs/SCIENCE.md, Q4).

>>> import jacwrap
>>> my_model = lambda s, a: s                            # a JAX function or a torch module
>>> report = jacwrap.score(my_model, "run.jwr")
>>> round(report.metrics["sparsity"]["combined"], 3), round(report.target_sparsity["combined"], 3)
(0.8, 0.15)

The recording's finite steps are streamed in batches; on each the model's prediction and
Jacobians are computed (:mod:`jacwrap.data.models`) and reduced with the metric
code ``jacwrap fit`` uses (:mod:`jacwrap.data.metrics`). By default, as in the paper, every
quantity is z-scored first (``x_n = (x - mu) / sigma``, the Jacobians as
``J_n = diag(1/sigma_out) J diag(sigma_in)``), with the statistics of the scored steps or
the ``normalization`` given (a DynamicsModel brings its own); ``normalize=False`` scores in
the recording's units. The model's zeros are counted at ``threshold`` (1e-6, the learned
models' threshold), the ground truth's (``target_sparsity``) are the recording's (1e-12).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from jacwrap.data.errors import DataError
from jacwrap.data.metrics import MetricSums, metric_sums
from jacwrap.data.models import framework_of, model_jacobians
from jacwrap.data.sources import check_compatible, open_sources
from jacwrap.data.stats import NormalizationStats
from jacwrap.fit.normalize import Normalization, normalize_jacobian
from jacwrap.sparsity import LEARNED_THRESHOLD, SPARSITY_KINDS, sparsity_triplet

#: The per-step arrays scoring reads.
_FIELDS = ("state", "action", "next_state", "jac_state", "jac_action", "zero_state",
           "zero_action", "sparsity", "finite")  # fmt: skip


@dataclass
class ScoreReport:
    """The Q4 metrics of one model on one set of recordings (``to_dict`` for JSON).

    ``metrics``: the table of :mod:`jacwrap.data.metrics` (next-state MSE, Jacobian errors
    overall and on the recorded zero / non-zero elements, ``zeros_recovered``, the model's
    ``sparsity`` at ``threshold``). ``target_sparsity``: the recording's own (at
    ``recording_threshold``); ``target_sparsity_at_threshold``: the recorded Jacobians,
    in the scored space, counted at the model's ``threshold``.
    """

    env_name: str
    recordings: list[str]
    num_samples: int
    dropped_nonfinite: int
    space: str
    threshold: float
    recording_threshold: float
    metrics: dict[str, Any]
    target_sparsity: dict[str, float]
    target_sparsity_at_threshold: dict[str, float]
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def to_text(self) -> str:
        """A small table: the model's sparsity next to the ground truth's, then the errors."""
        m = self.metrics
        rows = [
            f"{self.env_name}: {self.num_samples} samples ({self.space} space)"
            + (f", {self.dropped_nonfinite} non-finite dropped" if self.dropped_nonfinite else ""),
            f"{'sparsity':<28}{'state':>10}{'action':>10}{'combined':>10}",
        ]
        for label, sp in (
            (f"model (|J| < {self.threshold:g})", m["sparsity"]),
            (f"truth (|J| < {self.recording_threshold:g})", self.target_sparsity),
            (f"truth (|J| < {self.threshold:g})", self.target_sparsity_at_threshold),
        ):
            rows.append(f"{label:<28}" + "".join(f"{sp[k]:>10.4f}" for k in SPARSITY_KINDS))
        for key in ("next_state_mse", "jacobian_mse", "jacobian_mae", "jacobian_mae_on_zeros",
                    "jacobian_mae_on_nonzeros", "zeros_recovered"):  # fmt: skip
            v = m[key]
            rows.append(f"{key:<28}{'-' if v is None else f'{v:.6e}':>30}")
        return "\n".join(rows) + "\n"


def _chunks(source: Any, max_samples: int | None) -> Iterator[Any]:
    """Steps-like chunks of a list of recordings (or one FitData), at most max_samples."""
    from jacwrap.fit.data import FitData
    from jacwrap.recording import open_recording

    if isinstance(source, FitData):
        n = source.n
        k = len(source) if max_samples is None else min(max_samples, len(source))
        for i in range(0, k, 4096):
            j = min(k, i + 4096)
            yield _FitChunk(source, slice(i, j), n)
        return
    left = max_samples
    for src in source:
        with open_recording(src.path) as rec:
            for steps in rec.iter_chunks():
                if left is not None:
                    if left <= 0:
                        return
                    steps = steps[: min(len(steps), left)]
                    left -= len(steps)
                yield steps


class _FitChunk:
    """Rows of a FitData with the attribute names of ``Steps``."""

    def __init__(self, data, rows: slice, n: int):
        self.state, self.action = data.state[rows], data.action[rows]
        self.next_state = data.next_state[rows]
        self.jac_state, self.jac_action = data.jac_state[rows], data.jac_action[rows]
        self.zero_state, self.zero_action = data.zero[rows][..., :n], data.zero[rows][..., n:]
        self.sparsity = data.sparsity[rows]
        self.finite = np.ones(len(self.state), bool)


def _batches(chunks: Iterable[Any], size: int) -> Iterator[dict[str, np.ndarray]]:
    """Finite steps regrouped into batches of exactly ``size`` rows (the last one padded by
    repeating its first row) with a ``weight`` of 1 per real row and 0 per padding row."""
    buf: dict[str, list] = {k: [] for k in _FIELDS}
    have = 0
    for chunk in chunks:
        ok = np.asarray(chunk.finite, dtype=bool)
        for k in _FIELDS:
            buf[k].append(np.asarray(getattr(chunk, k))[ok])
        have += int(ok.sum())
        while have >= size:
            cat = {k: np.concatenate(v) for k, v in buf.items()}
            yield {**{k: v[:size] for k, v in cat.items()}, "weight": np.ones(size)}
            buf = {k: [v[size:]] for k, v in cat.items()}
            have -= size
    if have:
        cat = {k: np.concatenate(v) for k, v in buf.items()}
        pad = np.concatenate([np.arange(have), np.zeros(size - have, int)])
        weight = (np.arange(size) < have).astype(np.float64)
        yield {**{k: v[pad] for k, v in cat.items()}, "weight": weight}


def _space(batch: dict, pred, js, ja, norm: Normalization | None):
    """(pred, target, J_hat, J) in the scored space, [J_s | J_a] side by side."""
    jac_hat = np.concatenate([js, ja], axis=-1)
    jac = np.concatenate([batch["jac_state"], batch["jac_action"]], axis=-1).astype(np.float64)
    target = batch["next_state"]
    if norm is None:
        return pred, target, jac_hat, jac
    sin, sout = norm.inputs.std, norm.outputs.std
    return (
        norm.outputs.apply(pred),
        norm.outputs.apply(target),
        normalize_jacobian(jac_hat, sin, sout),
        normalize_jacobian(jac, sin, sout),
    )


def score(
    model: Any,
    recording: str | os.PathLike | Iterable[str | os.PathLike] | Any,
    *,
    framework: str = "auto",
    batched: bool = True,
    mode: str = "auto",
    normalize: bool = True,
    normalization: Normalization | None = None,
    threshold: float = LEARNED_THRESHOLD,
    batch_size: int = 256,
    max_samples: int | None = None,
) -> ScoreReport:
    """Score ``model`` on the finite steps of ``recording`` (paths, or a FitData).

    See the module docstring; ``framework``, ``batched`` and ``mode`` are those of
    :func:`jacwrap.data.models.model_jacobians`. ``max_samples`` takes the first N
    steps. Raises the reader's errors for bad files, :class:`DataError` for recordings that
    do not go together or hold no finite step, and ``ModelError`` for a model whose output
    has the wrong shape.
    """
    from jacwrap.fit.data import FitData

    if batch_size < 1 or not threshold > 0:
        raise ValueError("batch_size must be >= 1 and threshold > 0")
    if isinstance(recording, FitData):
        source: Any = recording
        n, m, env, rec_thr = recording.n, recording.m, recording.env_name, recording.threshold
        names = list(recording.sources)
    else:
        source = open_sources(recording)
        check_compatible(source)
        h = source[0].header
        n, m, env, rec_thr = h.n, h.m, h.env_name, h.threshold
        names = [str(s.path) for s in source]
    kind = framework_of(model) if framework == "auto" else framework
    norm = None
    if normalize:
        norm = normalization
        if norm is None and kind == "jacwrap":
            norm = model.normalization
        if norm is None:
            stats = NormalizationStats(n, m)
            for chunk in _chunks(source, max_samples):
                stats.update(chunk)
            norm = stats.result()
    sums, target = MetricSums(), MetricSums()
    total = dropped = 0
    truth_sp = np.zeros(3)
    for chunk in _chunks(source, max_samples):
        ok = np.asarray(chunk.finite, bool)
        total += ok.size
        dropped += int(ok.size - ok.sum())
        truth_sp += np.asarray(chunk.sparsity, np.float64)[ok].sum(0)
    if total - dropped == 0:
        raise DataError(f"{', '.join(names)}: no finite step to score")
    for b in _batches(_chunks(source, max_samples), batch_size):
        pred, js, ja = model_jacobians(
            model, b["state"], b["action"], framework=kind, batched=batched, mode=mode
        )
        p, t, jh, j = _space(b, pred, js, ja, norm)
        zero = np.concatenate([b["zero_state"], b["zero_action"]], axis=-1)
        w = b["weight"]
        sums.add(metric_sums(p, t, jh, j, zero, w, n, threshold), w.sum())
        sp = sparsity_triplet(j[..., :n], j[..., n:], threshold)
        target.add({"sparsity": (w[:, None] * sp).sum(0)}, w.sum())
    count = total - dropped
    return ScoreReport(
        env_name=env,
        recordings=names,
        num_samples=count,
        dropped_nonfinite=dropped,
        space="normalized" if norm is not None else "original",
        threshold=float(threshold),
        recording_threshold=float(rec_thr),
        metrics=sums.finish(),
        target_sparsity=dict(zip(SPARSITY_KINDS, (truth_sp / count).tolist(), strict=True)),
        target_sparsity_at_threshold=dict(
            zip(SPARSITY_KINDS, (target.acc["sparsity"] / target.count).tolist(), strict=True)
        ),
        model=getattr(model, "__qualname__", type(model).__name__),
    )
