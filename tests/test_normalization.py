"""Folding VecNormalize statistics into the policy: the folded network on raw observations
must equal the trained network on normalised observations (VecNormalize's own arithmetic is
the oracle), and the live model must be restored afterwards."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from agents.normalization import folded_observation_norm, input_layers


def _model(net_arch, clip_obs=np.inf, normalize=True):
    venv = DummyVecEnv([lambda: gym.make("Pendulum-v1")] * 2)
    vecnorm = VecNormalize(venv, norm_obs=True, norm_reward=True, clip_obs=clip_obs)
    model = PPO(
        "MlpPolicy",
        vecnorm if normalize else venv,
        n_steps=16,
        batch_size=16,
        seed=0,
        device="cpu",
        policy_kwargs=dict(net_arch=net_arch),
    )
    torch.manual_seed(0)
    with torch.no_grad():  # SB3's small output-layer init would hide a wrong fold
        for param in model.policy.parameters():
            param.normal_(0.0, 0.5)
    rng = np.random.default_rng(0)
    # statistics far from (0, 1), so an unfolded policy would differ a lot
    vecnorm.obs_rms.mean = rng.normal(0, 3, 3)
    vecnorm.obs_rms.var = rng.uniform(0.01, 20, 3)
    return model, vecnorm, rng.normal(0, 5, (64, 3)).astype(np.float32)


def _outputs(policy, obs):
    with torch.no_grad():
        t = torch.as_tensor(obs)
        dist = policy.get_distribution(t)
        return dist.distribution.mean.numpy(), policy.predict_values(t).numpy()


@pytest.mark.parametrize("net_arch", [[32, 32], []])
def test_folded_policy_on_raw_obs_equals_policy_on_normalised_obs(net_arch):
    model, vecnorm, raw = _model(net_arch)
    expected = _outputs(model.policy, vecnorm.normalize_obs(raw).astype(np.float32))
    unfolded = _outputs(model.policy, raw)
    with folded_observation_norm(model):
        folded = _outputs(model.policy, raw)
    for e, f, u in zip(expected, folded, unfolded, strict=True):
        np.testing.assert_allclose(f, e, rtol=1e-4, atol=1e-4)
        assert np.abs(u - e).max() > 0.1  # the statistics matter: the check can fail
    # the training weights are back, exactly
    np.testing.assert_array_equal(_outputs(model.policy, raw)[0], unfolded[0])


def test_input_layers_are_the_layers_reading_the_observation():
    model, _, _ = _model([32, 32])
    pi, vf = input_layers(model.policy)
    assert pi is model.policy.mlp_extractor.policy_net[0]
    assert vf is model.policy.mlp_extractor.value_net[0]
    assert pi.in_features == vf.in_features == 3


def test_clipped_normalisation_cannot_be_folded():
    model, vecnorm, _ = _model([8], clip_obs=10.0)
    with pytest.raises(ValueError, match="clip_obs"), folded_observation_norm(model):
        pass


def test_without_vecnormalize_nothing_changes():
    model, _, raw = _model([8], normalize=False)
    before = _outputs(model.policy, raw)[0]
    with folded_observation_norm(model):
        np.testing.assert_array_equal(_outputs(model.policy, raw)[0], before)
