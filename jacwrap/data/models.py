"""A user's dynamics model s' = f(s, a) and its Jacobians on a batch, for any framework.

:func:`model_jacobians` takes

* a JAX function (anything ``jax.jacfwd`` can trace): differentiated with ``jax.jacfwd``
  (``mode="fwd"``, the default: it also goes through loops such as MJX's constraint solver,
  which reverse mode cannot) or ``jax.jacrev``, per sample under ``jax.vmap``, jitted;
* a ``torch.nn.Module`` (or, with ``framework="torch"``, any function of torch tensors):
  ``torch.func.jacrev`` (default) or ``jacfwd`` under ``torch.func.vmap``, in eval mode
  (dropout off) and in the dtype of the module's parameters;
* a :class:`jacwrap.fit.DynamicsModel` (what ``jacwrap fit`` saves): its own ``predict`` and
  ``jacobian``.

By default ``f`` is batched, as models usually are: ``f(S (B, n), A (B, m)) -> (B, n)``;
``batched=False`` takes a per-sample ``f(s (n,), a (m,)) -> (n,)``. Results are NumPy
float64: the prediction (B, n), J_s (B, n, n) and J_a (B, n, m) in the model's units.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from jacwrap.data.errors import ModelError

FRAMEWORKS = ("auto", "jax", "torch", "jacwrap")
MODES = ("auto", "fwd", "rev")


def framework_of(model: Any) -> str:
    """``jacwrap`` for a DynamicsModel, ``torch`` for an nn.Module, else ``jax``."""
    from jacwrap.fit.model import DynamicsModel

    if isinstance(model, DynamicsModel):
        return "jacwrap"
    torch_nn = _loaded("torch.nn")
    if torch_nn is not None and isinstance(model, torch_nn.Module):
        return "torch"
    return "jax"


def _loaded(name: str):
    import sys

    return sys.modules.get(name)


def model_jacobians(
    model: Any,
    s: np.ndarray,
    a: np.ndarray,
    *,
    framework: str = "auto",
    batched: bool = True,
    mode: str = "auto",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prediction (B, n), J_s (B, n, n), J_a (B, n, m)) of ``model`` at the rows of s, a."""
    if framework not in FRAMEWORKS or mode not in MODES:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, mode one of {MODES}")
    kind = framework_of(model) if framework == "auto" else framework
    s = np.asarray(s, np.float64)
    a = np.asarray(a, np.float64)
    if kind == "jacwrap":
        pred = model.predict(s, a)
        js, ja = model.jacobian(s, a)
    elif kind == "torch":
        pred, js, ja = _torch(model, s, a, batched, "rev" if mode == "auto" else mode)
    else:
        pred, js, ja = _jax_fn(model, batched, "fwd" if mode == "auto" else mode)(s, a)
    out = tuple(np.asarray(x, np.float64) for x in (pred, js, ja))
    b, n = s.shape
    want = ((b, n), (b, n, n), (b, n, a.shape[1]))
    if tuple(x.shape for x in out) != want:
        raise ModelError(
            f"the model maps s {s.shape[1:]} and a {a.shape[1:]} to s' of shape "
            f"{out[0].shape[1:]}, expected ({n},)"
            + ("" if batched else "; with batched=False it gets one sample at a time")
        )
    return out


@functools.lru_cache(maxsize=8)
def _jax_fn(f: Callable, batched: bool, mode: str):
    import jax

    def one(s, a):
        y = f(s[None], a[None])[0] if batched else f(s, a)
        return y, y

    jac = (jax.jacfwd if mode == "fwd" else jax.jacrev)(one, argnums=(0, 1), has_aux=True)

    def run(s, a):
        (js, ja), y = jax.vmap(jac)(s, a)
        return y, js, ja

    return jax.jit(run)


def _torch(model, s: np.ndarray, a: np.ndarray, batched: bool, mode: str):
    import torch
    from torch.func import jacfwd, jacrev, vmap

    params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
    dtype = params[0].dtype if params else torch.float64
    device = params[0].device if params else torch.device("cpu")
    S = torch.as_tensor(s, dtype=dtype, device=device)
    A = torch.as_tensor(a, dtype=dtype, device=device)

    def one(s_, a_):
        y = model(s_[None], a_[None])[0] if batched else model(s_, a_)
        return y, y

    jac = (jacfwd if mode == "fwd" else jacrev)(one, argnums=(0, 1), has_aux=True)
    training = getattr(model, "training", False)
    if training:
        model.eval()
    try:
        (js, ja), y = vmap(jac)(S, A)
    finally:
        if training:
            model.train(True)
    return (t.detach().cpu().double().numpy() for t in (y, js, ja))
