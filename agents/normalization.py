"""Fold SB3 ``VecNormalize`` observation statistics into a policy's first linear layers.

A policy trained behind ``VecNormalize(norm_obs=True, clip_obs=inf)`` sees
``x_n = (x - mean) / sqrt(var + eps)``. Every layer that reads the observation features is
linear, ``W x_n + b``, which equals ``(W / s) x + (b - (W / s) mean)`` with
``s = sqrt(var + eps)``: the same network on raw observations. Folding keeps the saved model
a stock ``ActorCriticPolicy`` (plain ``PPO.load``, no statistics file beside it), which is
what :mod:`jacwrap.policies` rolls out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn


def input_layers(policy) -> list[nn.Linear]:
    """The linear layers of an SB3 ``ActorCriticPolicy`` that read the flattened observation."""
    from stable_baselines3.common.torch_layers import FlattenExtractor

    extractors = [policy.pi_features_extractor, policy.vf_features_extractor]
    for extractor in extractors:
        if not isinstance(extractor, FlattenExtractor):
            raise TypeError(f"cannot fold normalisation through {type(extractor).__name__}")
    mlp = policy.mlp_extractor
    layers = []
    for net, head in ((mlp.policy_net, policy.action_net), (mlp.value_net, policy.value_net)):
        first = next((m for m in net.modules() if isinstance(m, nn.Linear)), head)
        layers.append(first)
    return layers


def fold(layer: nn.Linear, mean: np.ndarray, scale: np.ndarray) -> None:
    """Make ``layer(x)`` equal the old ``layer((x - mean) / scale)`` (in place)."""
    with torch.no_grad():
        w = layer.weight / torch.tensor(np.array(scale), dtype=layer.weight.dtype)
        layer.weight.copy_(w)
        layer.bias.sub_(w @ torch.tensor(np.array(mean), dtype=w.dtype))


@contextmanager
def folded_observation_norm(model) -> Iterator[None]:
    """Within the block, ``model.policy`` acts on raw observations; restored afterwards.

    The statistics are those of the ``VecNormalize`` the model trains behind (SB3's
    ``get_vec_normalize_env``); without one, or without observation normalisation, nothing
    changes.
    """
    vecnorm = model.get_vec_normalize_env()
    if vecnorm is None or not vecnorm.norm_obs:
        yield
        return
    if np.isfinite(vecnorm.clip_obs):
        raise ValueError("folding needs VecNormalize(clip_obs=np.inf): clipping is not linear")
    layers = input_layers(model.policy)
    saved = [(lay.weight.detach().clone(), lay.bias.detach().clone()) for lay in layers]
    mean = np.asarray(vecnorm.obs_rms.mean, np.float64)
    scale = np.sqrt(np.asarray(vecnorm.obs_rms.var, np.float64) + vecnorm.epsilon)
    try:
        for lay in {id(lay): lay for lay in layers}.values():  # a shared layer folds once
            fold(lay, mean, scale)
        yield
    finally:
        with torch.no_grad():
            for lay, (w, b) in zip(layers, saved, strict=True):
                lay.weight.copy_(w)
                lay.bias.copy_(b)
