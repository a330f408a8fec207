"""Turn a Brax PPO policy (non-squashed Gaussian) into a plain SB3 ``PPO`` zip.

``agents.train_brax`` trains with Brax's ``make_ppo_networks(distribution_type="normal",
noise_std_type="log", state_dependent_std=False)``: an MLP with ``activate_final`` hidden
layers, a linear mean head, one learned log-std per action dimension, observations
normalised by running statistics ``(x - mean) / std``. That is exactly SB3's
``ActorCriticPolicy`` (``mlp_extractor`` -> ``action_net``, ``log_std``; value net the same
way) with the statistics folded into the first linear layers (:func:`agents.normalization.fold`),
so the exported file is a stock ``PPO`` zip that :mod:`jacwrap.policies` rolls out as
``clip(mean + std * eps_t)`` like any other: no second policy format. Actions outside the
control range are clipped in both (MJX clamps ``ctrl`` to ``ctrlrange`` during training,
jacwrap clips before its step), so the Gaussian's log-probabilities are those of the
unclipped sample in both trainers.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from jacwrap.policies import NOISE_BETA_ATTR

from .normalization import fold, input_layers

ACTIVATIONS = {"tanh": nn.Tanh, "swish": nn.SiLU, "relu": nn.ReLU, "elu": nn.ELU}
"""Brax activation name -> the torch module SB3 builds the same network with."""


class SpacesEnv(gym.Env):
    """An env with only spaces: SB3 needs one to construct a ``PPO`` model to save."""

    def __init__(self, observation_space: gym.spaces.Box, action_space: gym.spaces.Box):
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seed=None, options=None):
        return np.zeros(self.observation_space.shape, np.float32), {}

    def step(self, action):
        raise NotImplementedError("SpacesEnv only carries spaces for saving a model")


def dense_layers(tree: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(kernel (in, out), bias)`` of a flax ``MLP``'s ``hidden_<i>`` layers, in order."""
    names = sorted((k for k in tree if k.startswith("hidden_")), key=lambda k: int(k[7:]))
    return [(np.asarray(tree[k]["kernel"]), np.asarray(tree[k]["bias"])) for k in names]


def brax_policy_layers(policy_params) -> tuple[list, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Hidden layers, mean head and log-std of a Brax ``PolicyModuleWithStd`` parameter tree."""
    p = policy_params["params"]
    if "std_logparam" not in p:
        raise ValueError(
            "only Brax policies with distribution_type='normal', noise_std_type='log' and a "
            f"state-independent std export to SB3; got parameters {sorted(p)}"
        )
    head = (np.asarray(p["Dense_0"]["kernel"]), np.asarray(p["Dense_0"]["bias"]))
    return dense_layers(p["MLP_0"]), head, np.asarray(p["std_logparam"]["log_value"])


def copy_linear(layer: nn.Linear, kernel: np.ndarray, bias: np.ndarray) -> None:
    if layer.weight.shape != kernel.T.shape:
        raise ValueError(f"layer {tuple(layer.weight.shape)} vs Brax kernel {kernel.shape}")
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(np.array(kernel.T), dtype=layer.weight.dtype))
        layer.bias.copy_(torch.tensor(np.array(bias), dtype=layer.bias.dtype))


def to_sb3(
    params,
    observation_space: gym.spaces.Box,
    action_space: gym.spaces.Box,
    activation: str = "tanh",
    beta: float = 0.0,
):
    """SB3 ``PPO`` model equal to Brax's ``(normalizer, policy, value)`` ``params``.

    The model acts on raw observations (normalisation folded in); ``beta`` is stored as its
    colored-noise exponent (0 = white, what Brax trains with).
    """
    from stable_baselines3 import PPO

    normalizer, policy_params, value_params = params
    hidden, head, log_std = brax_policy_layers(policy_params)
    value = dense_layers(value_params["params"])
    net_arch = {"pi": [k.shape[1] for k, _ in hidden], "vf": [k.shape[1] for k, _ in value[:-1]]}
    model = PPO(
        "MlpPolicy",
        SpacesEnv(observation_space, action_space),
        policy_kwargs={"net_arch": net_arch, "activation_fn": ACTIVATIONS[activation]},
        device="cpu",
        n_steps=2,
        batch_size=2,
    )
    policy = model.policy
    pi = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
    vf = [m for m in policy.mlp_extractor.value_net if isinstance(m, nn.Linear)]
    for layer, (k, b) in zip([*pi, policy.action_net], [*hidden, head], strict=True):
        copy_linear(layer, k, b)
    for layer, (k, b) in zip([*vf, policy.value_net], value, strict=True):
        copy_linear(layer, k, b)
    with torch.no_grad():
        policy.log_std.copy_(torch.tensor(np.array(log_std), dtype=policy.log_std.dtype))
    mean = np.asarray(normalizer.mean, np.float64)
    std = np.asarray(normalizer.std, np.float64)
    for layer in {id(lay): lay for lay in input_layers(policy)}.values():
        fold(layer, mean, std)
    setattr(model, NOISE_BETA_ATTR, float(beta))
    return model


def save_sb3(params, path: Path, observation_space, action_space, activation="tanh", beta=0.0):
    """:func:`to_sb3` and save it to ``path`` (``.zip`` appended by SB3 when missing)."""
    model = to_sb3(params, observation_space, action_space, activation, beta)
    model.save(str(path))
    return model
