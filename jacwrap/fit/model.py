"""The MLP dynamics model of docs/SCIENCE.md (Q4) in plain JAX, and its Jacobian.

Architecture (the paper's): input x = (s, a) z-scored, hidden layers of 512 units with ELU
(two by default), dropout 0.1 after each hidden activation, a linear output layer;
Kaiming-normal weights (std sqrt(2 / fan_in), torch's ``kaiming_normal_`` default), zero biases
**(ours)**. The network predicts the normalised next state s'_n, or, with ``residual=True``
**(ours)**, the normalised change (s' - s)_n; either way :func:`next_state_n` is the map
x_n -> s'_n whose Jacobian (autodiff, per sample, vmapped) the Jacobian losses and the
sparsity metrics use.

:class:`DynamicsModel` is a trained model as a dynamics model in original units:
``predict(s, a)`` and ``jacobian(s, a)``, saved to and loaded from one ``.npz`` file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jacwrap.errors import JacwrapError
from jacwrap.fit.normalize import Normalization, denormalize_jacobian

MODEL_FORMAT = "jacwrap.fit-model"
MODEL_FORMAT_VERSION = 1


class ModelFileError(JacwrapError, ValueError):
    """A model file that cannot be read; the message names the file."""


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network: n state and m action variables, hidden sizes, dropout rate."""

    n: int
    m: int
    hidden: tuple[int, ...] = (512, 512)
    dropout: float = 0.1
    residual: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        return cls(
            n=int(d["n"]),
            m=int(d["m"]),
            hidden=tuple(int(h) for h in d["hidden"]),
            dropout=float(d["dropout"]),
            residual=bool(d["residual"]),
        )


class NormArrays(NamedTuple):
    """The normalisation statistics as JAX arrays of one dtype (a pytree for jit)."""

    in_mean: jax.Array
    in_std: jax.Array
    out_mean: jax.Array
    out_std: jax.Array
    delta_mean: jax.Array
    delta_std: jax.Array

    @classmethod
    def of(cls, norm: Normalization, dtype) -> NormArrays:
        return cls(*(jnp.asarray(v, dtype=dtype) for v in norm.to_arrays().values()))


Params = list  # [(w, b), ...] per layer, w of shape (fan_in, fan_out)


def init_params(key: jax.Array, n_in: int, n_out: int, hidden, dtype=jnp.float32) -> Params:
    """Kaiming-normal weights (std sqrt(2 / fan_in)) and zero biases."""
    sizes = [n_in, *hidden, n_out]
    keys = jax.random.split(key, len(sizes) - 1)
    params = []
    for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:], strict=True):
        w = jax.random.normal(k, (fan_in, fan_out), dtype=dtype) * jnp.sqrt(2.0 / fan_in)
        params.append((w.astype(dtype), jnp.zeros((fan_out,), dtype=dtype)))
    return params


def cast_params(params: Params, dtype) -> Params:
    """The same parameters in another float dtype."""
    return [(jnp.asarray(w, dtype), jnp.asarray(b, dtype)) for w, b in params]


def dropout_keep(key: jax.Array, batch: int, hidden, rate: float, dtype) -> tuple:
    """Per-sample dropout multipliers for each hidden layer: 0 or 1 / (1 - rate)."""
    if rate <= 0.0:
        return tuple(jnp.ones((batch, h), dtype=dtype) for h in hidden)
    keys = jax.random.split(key, len(hidden))
    return tuple(
        jax.random.bernoulli(k, 1.0 - rate, (batch, h)).astype(dtype) / (1.0 - rate)
        for k, h in zip(keys, hidden, strict=True)
    )


def mlp(params: Params, x: jax.Array, keep: tuple | None = None) -> jax.Array:
    """The raw network: ELU hidden layers (times the dropout multipliers ``keep``), linear out."""
    h = x
    for i, (w, b) in enumerate(params[:-1]):
        h = jax.nn.elu(h @ w + b)
        if keep is not None:
            h = h * keep[i]
    w, b = params[-1]
    return h @ w + b


def next_state_n(params: Params, norm: NormArrays, x_n, keep, residual: bool):
    """(network output, s'_n): the map from normalised (s, a) to the normalised next state."""
    y = mlp(params, x_n, keep)
    if not residual:
        return y, y
    n = y.shape[-1]
    s = norm.in_mean[:n] + norm.in_std[:n] * x_n[..., :n]
    s_next = s + norm.delta_mean + norm.delta_std * y
    return y, (s_next - norm.out_mean) / norm.out_std


def forward_and_jacobian(params: Params, norm: NormArrays, x_n, keep, residual: bool):
    """For a batch x_n (B, n+m): (network output, s'_n, J_hat (B, n, n+m) = d s'_n / d x_n).

    The Jacobian is per sample (each with its own dropout multipliers), by reverse mode when
    there are fewer outputs than inputs and forward mode otherwise.
    """

    def one(x, k):
        y, sn = next_state_n(params, norm, x, k, residual)
        return sn, (y, sn)

    n_out = params[-1][0].shape[1]
    jac_fn = jax.jacrev if n_out < x_n.shape[-1] else jax.jacfwd
    jac, (y, sn) = jax.vmap(jac_fn(one, has_aux=True))(x_n, keep)
    return y, sn, jac


@dataclass
class DynamicsModel:
    """A trained model used as a dynamics model, in original units (float64 evaluation)."""

    params: Params
    normalization: Normalization
    config: ModelConfig
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        from jacwrap._jax_setup import configure_jax

        configure_jax()
        self._p64 = cast_params(self.params, jnp.float64)
        self._norm64 = NormArrays.of(self.normalization, jnp.float64)
        residual = self.config.residual
        self._fwd = jax.jit(lambda p, nm, x: next_state_n(p, nm, x, None, residual)[1])
        self._jac = jax.jit(lambda p, nm, x: forward_and_jacobian(p, nm, x, None, residual)[2])

    def _inputs(self, s, a):
        s = np.asarray(s, dtype=np.float64)
        a = np.asarray(a, dtype=np.float64)
        single = s.ndim == 1
        x = np.concatenate([np.atleast_2d(s), np.atleast_2d(a)], axis=-1)
        if x.shape[-1] != self.config.n + self.config.m:
            raise ValueError(
                f"expected s of size {self.config.n} and a of size {self.config.m}, "
                f"got {s.shape[-1]} and {a.shape[-1]}"
            )
        return jnp.asarray(self.normalization.inputs.apply(x)), single

    def predict(self, s, a) -> np.ndarray:
        """s' for s (n,) or (B, n) and a (m,) or (B, m), in original units."""
        x_n, single = self._inputs(s, a)
        sn = np.asarray(self._fwd(self._p64, self._norm64, x_n))
        out = self.normalization.outputs.invert(sn)
        return out[0] if single else out

    def normalized_jacobian(self, s, a) -> np.ndarray:
        """d s'_n / d x_n, (n, n+m) or (B, n, n+m): the Jacobian whose sparsity is measured."""
        x_n, single = self._inputs(s, a)
        jac = np.asarray(self._jac(self._p64, self._norm64, x_n))
        return jac[0] if single else jac

    def jacobian(self, s, a) -> tuple[np.ndarray, np.ndarray]:
        """(J_s (.., n, n), J_a (.., n, m)) of the model in original units."""
        jac_n = self.normalized_jacobian(s, a)
        jac = denormalize_jacobian(
            jac_n, self.normalization.inputs.std, self.normalization.outputs.std
        )
        n = self.config.n
        return jac[..., :n], jac[..., n:]

    def save(self, path: str | Path) -> Path:
        """Write params, normalisation and config to one ``.npz`` (no pickles)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"norm_{k}": v for k, v in self.normalization.to_arrays().items()}
        for i, (w, b) in enumerate(self.params):
            arrays[f"w{i}"] = np.asarray(w)
            arrays[f"b{i}"] = np.asarray(b)
        meta = {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "config": self.config.to_dict(),
            "num_layers": len(self.params),
            "metadata": self.metadata,
        }
        arrays["meta"] = np.array(json.dumps(meta))
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> DynamicsModel:
        """Read a model written by :meth:`save`; raises :class:`ModelFileError`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != MODEL_FORMAT:
                    raise ModelFileError(f"{path}: not a jacwrap fit model")
                if meta.get("format_version") != MODEL_FORMAT_VERSION:
                    raise ModelFileError(
                        f"{path}: model format version {meta.get('format_version')} "
                        f"is not supported (expected {MODEL_FORMAT_VERSION})"
                    )
                params = [
                    (jnp.asarray(z[f"w{i}"]), jnp.asarray(z[f"b{i}"]))
                    for i in range(int(meta["num_layers"]))
                ]
                norm = Normalization.from_arrays(
                    {k[5:]: z[k] for k in z.files if k.startswith("norm_")}
                )
        except ModelFileError:
            raise
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"{path}: cannot read model file ({exc})") from exc
        return cls(params, norm, ModelConfig.from_dict(meta["config"]), meta.get("metadata", {}))
