"""Training one MLP with one loss mode and seed (docs/SCIENCE.md, Q4): split, normalise, fit, evaluate.

:func:`fit` takes a :class:`~jacwrap.fit.data.FitData` (arrays; no files) and a
:class:`FitConfig`, and returns the trained :class:`~jacwrap.fit.model.DynamicsModel` and its
:class:`~jacwrap.fit.summary.FitSummary`. The training step (dropout, the model's Jacobian in
normalised space when the mode needs it, the loss, AdamW) is one jitted function; the data
live on the device and each step gathers its batch by index. Batches have a fixed shape:
the last one of an epoch is padded with zero-weight samples, so every sample is used once
per epoch and the step compiles once.

Training runs in float32; every metric (test MSE, the Jacobian errors, the sparsity of
J_hat at ``learned_threshold``) is evaluated in float64 on the trained float32 weights, so
rounding does not blur the 1e-6 threshold.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jacwrap._extras import require

require("fit", "optax")

import optax  # noqa: E402

from jacwrap._jax_setup import configure_jax  # noqa: E402
from jacwrap.data.metrics import MetricSums, metric_sums  # noqa: E402
from jacwrap.fit.data import FitData, split_indices  # noqa: E402
from jacwrap.fit.losses import check_mode, jacobian_term, needs_jacobian, state_mse  # noqa: E402
from jacwrap.fit.model import (  # noqa: E402
    DynamicsModel,
    ModelConfig,
    NormArrays,
    cast_params,
    dropout_keep,
    forward_and_jacobian,
    init_params,
    next_state_n,
)
from jacwrap.fit.normalize import Normalization, normalize_jacobian  # noqa: E402
from jacwrap.fit.summary import HISTORY_KEYS  # noqa: E402
from jacwrap.sparsity import LEARNED_THRESHOLD, SPARSITY_KINDS  # noqa: E402


@dataclass(frozen=True)
class FitConfig:
    """Everything that defines one fit; the defaults are the paper's setting (docs/SCIENCE.md, Q4).

    ``epoch_eval_samples``: after each epoch the model's Jacobian sparsity and error are
    measured on this many test samples (0: not at all); the final metrics use all of them.

    ``jacobian_batch`` **(ours)**: the Jacobian term is computed on the first K samples of
    each (shuffled) batch instead of all of them (None: all, the paper's setting), an
    unbiased estimate of the same term at K / batch_size of its cost.
    """

    loss_mode: str = "state"
    seed: int = 0
    epochs: int = 100
    batch_size: int = 512
    learning_rate: float = 2e-3
    weight_decay: float = 1e-3
    hidden: tuple[int, ...] = (512, 512)
    dropout: float = 0.1
    jacobian_weight: float = 1.0
    jacobian_batch: int | None = None
    residual: bool = False
    test_fraction: float = 0.1
    split_seed: int = 0
    learned_threshold: float = LEARNED_THRESHOLD
    epoch_eval_samples: int = 1024

    def __post_init__(self):
        check_mode(self.loss_mode)
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError("epochs must be >= 0 and batch_size >= 1")
        if self.jacobian_batch is not None and self.jacobian_batch < 1:
            raise ValueError("jacobian_batch must be >= 1 (or None for the whole batch)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitConfig:
        d = dict(d)
        d["hidden"] = tuple(d["hidden"])
        return cls(**d)


@dataclass
class FitResult:
    model: DynamicsModel
    summary: Any  # FitSummary (imported lazily to keep modules independent)


#: ``callback(event, info)``: ("start", {"steps_per_epoch", "epochs", "num_train"}),
#: ("batch", {"samples"}), ("epoch", <history record>), ("end", {}).
Callback = Callable[[str, dict[str, Any]], None]


class SplitArrays(NamedTuple):
    """The normalised arrays of one split (a pytree passed to the jitted functions)."""

    x: jax.Array  # (N, n+m) normalised inputs
    net_target: jax.Array  # (N, n) what the network outputs: s'_n, or (s' - s)_n if residual
    next_n: jax.Array  # (N, n) s'_n
    jac: jax.Array  # (N, n, n+m) ground truth in normalised space
    zero: jax.Array  # (N, n, n+m) bool, ground-truth zeros

    @property
    def num(self) -> int:
        return self.x.shape[0]

    @classmethod
    def build(cls, data: FitData, idx, norm: Normalization, residual: bool, dtype) -> SplitArrays:
        s, a, sp = data.state[idx], data.action[idx], data.next_state[idx]
        x_n = norm.inputs.apply(np.concatenate([s, a], axis=-1))
        sp_n = norm.outputs.apply(sp)
        net_target = norm.deltas.apply(sp - s) if residual else sp_n
        jac_n = normalize_jacobian(data.jacobian(idx), norm.inputs.std, norm.outputs.std)
        return cls(
            x=jnp.asarray(x_n, dtype=dtype),
            net_target=jnp.asarray(net_target, dtype=dtype),
            next_n=jnp.asarray(sp_n, dtype=dtype),
            jac=jnp.asarray(jac_n, dtype=dtype),
            zero=jnp.asarray(data.zero[idx]),
        )


def _batches(num: int, batch: int, rng: np.random.Generator):
    """Shuffled index batches of fixed size; the last is padded with weight-0 samples."""
    perm = rng.permutation(num)
    steps = -(-num // batch)
    pad = steps * batch - num
    idx = np.concatenate([perm, perm[:pad] if pad <= num else np.zeros(pad, int)])
    weight = np.concatenate([np.ones(num, np.float32), np.zeros(pad, np.float32)])
    return idx.reshape(steps, batch), weight.reshape(steps, batch)


def _optimizer(cfg: FitConfig):
    return optax.adamw(cfg.learning_rate, weight_decay=cfg.weight_decay)


@functools.lru_cache(maxsize=32)
def _train_step(cfg: FitConfig, batch: int):
    """The jitted step (params, opt_state, arrays, norm, idx, weight, key) -> (.., [loss, mse, term]).

    Cached per (config without the seed, batch size), so that seeds share compiled code.
    """
    mode, residual = cfg.loss_mode, cfg.residual
    with_jac = needs_jacobian(mode)
    jb = min(cfg.jacobian_batch or batch, batch)
    optimizer = _optimizer(cfg)
    hidden, dropout, jacobian_weight = cfg.hidden, cfg.dropout, cfg.jacobian_weight

    def step(params, opt_state, arrays: SplitArrays, norm, idx, weight, key):
        x = arrays.x[idx]
        keep = dropout_keep(key, batch, hidden, dropout, x.dtype)

        def loss_fn(p):
            if with_jac and jb == batch:
                y, sn, jac_hat = forward_and_jacobian(p, norm, x, keep, residual)
            else:
                y, sn = next_state_n(p, norm, x, keep, residual)
            if with_jac and jb < batch:
                sub = tuple(k[:jb] for k in keep)
                _, _, jac_hat = forward_and_jacobian(p, norm, x[:jb], sub, residual)
            mse = state_mse(y, arrays.net_target[idx], weight)
            if with_jac:
                ij = idx[:jb]
                term = jacobian_term(mode, jac_hat, arrays.jac[ij], arrays.zero[ij], weight[:jb])
            else:
                term = jnp.zeros((), x.dtype)
            next_mse = state_mse(sn, arrays.next_n[idx], weight)
            return mse + jacobian_weight * term, (term, next_mse)

        (loss, (term, next_mse)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, jnp.stack([loss, next_mse, term])

    return jax.jit(step, donate_argnums=(0, 1))


_COMPILED: dict = {}


def _compiled_step(cfg: FitConfig, batch: int, *args):
    """The step compiled ahead of time for these argument shapes (kept across fits)."""
    sig = (cfg, batch, str(jax.tree.map(lambda x: (x.shape, x.dtype), args)))
    if sig not in _COMPILED:
        if len(_COMPILED) > 16:
            _COMPILED.clear()
        _COMPILED[sig] = _train_step(cfg, batch).lower(*args).compile()
    return _COMPILED[sig]


@functools.lru_cache(maxsize=16)
def _eval_fns(n: int, residual: bool, thr: float):
    """Jitted (forward, full) metric sums over one chunk of the test split."""

    def forward(p, norm, arrays, idx, w):
        _, sn = next_state_n(p, norm, arrays.x[idx], None, residual)
        return jnp.sum(w * jnp.mean((sn - arrays.next_n[idx]) ** 2, -1))

    def full(p, norm, arrays, idx, w):
        _, sn, jh = forward_and_jacobian(p, norm, arrays.x[idx], None, residual)
        jac, zero = arrays.jac[idx], arrays.zero[idx]
        return metric_sums(sn, arrays.next_n[idx], jh, jac, zero, w, n, thr)

    return jax.jit(forward), jax.jit(full)


class _Evaluator:
    """Float64 metrics of a parameter set on the test split, in fixed-size padded chunks."""

    def __init__(self, test: SplitArrays, norm64: NormArrays, n: int, cfg: FitConfig):
        self.test, self.norm = test, norm64
        self.chunk = max(1, min(1024, test.num))
        self._forward, self._full = _eval_fns(n, cfg.residual, cfg.learned_threshold)

    def _chunks(self, limit: int | None = None):
        num = self.test.num if limit is None else min(limit, self.test.num)
        for start in range(0, num, self.chunk):
            idx = np.arange(start, start + self.chunk)
            w = (idx < num).astype(np.float64)
            yield jnp.asarray(np.minimum(idx, self.test.num - 1)), jnp.asarray(w)

    def test_mse(self, params) -> float:
        p = cast_params(params, jnp.float64)
        total = sum(
            float(self._forward(p, self.norm, self.test, idx, w)) for idx, w in self._chunks()
        )
        return total / self.test.num

    def metrics(self, params, limit: int | None = None) -> dict[str, Any]:
        """The summary's metrics, measured by the scorer's code (:mod:`jacwrap.data.metrics`)."""
        p = cast_params(params, jnp.float64)
        sums = MetricSums()
        for idx, w in self._chunks(limit):
            sums.add(self._full(p, self.norm, self.test, idx, w), jnp.sum(w))
        m = sums.finish()
        return {
            "test_mse": m["next_state_mse"],
            "test_jacobian_mse": m["jacobian_mse"],
            "test_jacobian_mae": m["jacobian_mae"],
            "test_jacobian_mae_on_zeros": m["jacobian_mae_on_zeros"],
            "sparsity": m["sparsity"],
        }


def fit(data: FitData, config: FitConfig, *, callback: Callback | None = None) -> FitResult:
    """Train one model on ``data`` with ``config``; see the module docstring."""
    from jacwrap.fit.summary import build_summary

    configure_jax()
    t_start = time.perf_counter()
    cb = callback or (lambda event, info: None)
    train_idx, test_idx = split_indices(len(data), config.test_fraction, config.split_seed)
    norm = Normalization.fit(
        data.state[train_idx], data.action[train_idx], data.next_state[train_idx]
    )
    mcfg = ModelConfig(
        n=data.n, m=data.m, hidden=config.hidden, dropout=config.dropout, residual=config.residual
    )
    train = SplitArrays.build(data, train_idx, norm, config.residual, jnp.float32)
    test = SplitArrays.build(data, test_idx, norm, config.residual, jnp.float64)
    norm32, norm64 = NormArrays.of(norm, jnp.float32), NormArrays.of(norm, jnp.float64)
    evaluator = _Evaluator(test, norm64, data.n, config)

    key = jax.random.PRNGKey(config.seed)
    init_key, key = jax.random.split(key)
    params = init_params(init_key, data.n + data.m, data.n, config.hidden, jnp.float32)
    initial = evaluator.metrics(params)
    target = {
        k: float(v) for k, v in zip(SPARSITY_KINDS, data.sparsity[test_idx].mean(0), strict=True)
    }

    batch = min(config.batch_size, train.num)
    opt_state = _optimizer(config).init(params)
    rng = np.random.default_rng(config.seed)
    steps_per_epoch = -(-train.num // batch)

    t0 = time.perf_counter()
    idx0, w0 = (jnp.asarray(a[0]) for a in _batches(train.num, batch, rng))
    step_cfg = dataclasses.replace(config, seed=0, epochs=0)
    compiled = _compiled_step(step_cfg, batch, params, opt_state, train, norm32, idx0, w0, key)
    compile_s = time.perf_counter() - t0

    history: dict[str, list] = {k: [] for k in HISTORY_KEYS}
    cb(
        "start",
        {"steps_per_epoch": steps_per_epoch, "epochs": config.epochs, "num_train": train.num},
    )
    train_s = 0.0
    for epoch in range(1, config.epochs + 1):
        idx_all, w_all = _batches(train.num, batch, rng)
        idx_all, w_all = jnp.asarray(idx_all), jnp.asarray(w_all)
        sums = jnp.zeros(3, jnp.float32)
        t_epoch = time.perf_counter()
        for i in range(steps_per_epoch):
            key, sub = jax.random.split(key)
            w = w_all[i]
            params, opt_state, out = compiled(params, opt_state, train, norm32, idx_all[i], w, sub)
            sums = sums + out * jnp.sum(w)
            cb("batch", {"samples": min(batch, train.num - i * batch)})
        sums = np.asarray(sums) / train.num
        epoch_s = time.perf_counter() - t_epoch
        train_s += epoch_s
        sub_metrics = (
            evaluator.metrics(params, limit=config.epoch_eval_samples)
            if config.epoch_eval_samples > 0
            else {"sparsity": {"combined": None}, "test_jacobian_mse": None}
        )
        record = {
            "epoch": epoch,
            "train_loss": float(sums[0]),
            "train_mse": float(sums[1]),
            "train_jacobian_term": float(sums[2]),
            "test_mse": evaluator.test_mse(params),
            "test_sparsity": sub_metrics["sparsity"]["combined"],
            "test_jacobian_mse": sub_metrics["test_jacobian_mse"],
            "epoch_s": epoch_s,
            "samples_per_s": train.num / epoch_s,
        }
        for k, v in record.items():
            history[k].append(v)
        cb("epoch", record)
    final = evaluator.metrics(params)
    cb("end", {})
    params = [(np.asarray(w), np.asarray(b)) for w, b in params]
    model = DynamicsModel(params, norm, mcfg, metadata={"env_name": data.env_name})
    summary = build_summary(
        data=data,
        config=config,
        num_train=train.num,
        num_test=test.num,
        history=history,
        initial=initial,
        final=final,
        target_sparsity=target,
        timing={
            "wall_s": time.perf_counter() - t_start,
            "compile_s": compile_s,
            "train_s": train_s,
            "samples_per_s": (train.num * config.epochs / train_s) if train_s > 0 else None,
        },
    )
    return FitResult(model=model, summary=summary)
