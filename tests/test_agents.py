"""Colored-noise PPO training (agents/) and rolling out saved policies (jacwrap.policies)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

import jacwrap
from agents.colored_noise import ColoredNoiseDiagGaussian
from agents.train_ppo import Args, parse_args, train
from jacwrap.envs import describe, load_playground
from jacwrap.noise import colored_noise
from jacwrap.policies import SB3Policy, load_policy

ENV = "CartpoleBalance"
POLICY_DIR = Path(__file__).resolve().parent.parent / "agents" / "policies"
SHIPPED = sorted(POLICY_DIR.glob("*.zip"))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Two PPO iterations on 4 Cartpole envs (seconds), behind VecNormalize (folded at save)."""
    out = tmp_path_factory.mktemp("run")
    args = Args(
        env=ENV,
        total_timesteps=256,
        num_envs=4,
        n_steps=32,
        batch_size=64,
        n_epochs=2,
        beta=2.0,
        eval_freq=128,
        eval_episodes=4,
        out=str(out),
        progress=False,
        norm_obs=True,
        norm_reward=True,
    )
    train(args)
    return out


def test_parse_args_reads_every_field():
    a = parse_args(["--env", "ReacherHard", "--beta", "0.5", "--net-arch", "32", "32"])
    assert (a.env, a.beta, a.net_arch, a.num_envs) == ("ReacherHard", 0.5, [32, 32], 128)
    assert parse_args(["--no-progress"]).progress is False


def test_presets_cover_the_paper_tasks_and_parse():
    from agents.presets import PRESETS, preset_argv

    assert list(PRESETS)[:2] == ["CartpoleBalance", "ReacherHard"]
    assert set(PRESETS) == set(jacwrap.PAPER_ENVS)
    paper = Args()
    for env, settings in PRESETS.items():
        a = parse_args(preset_argv(env))
        assert a.env == env and a.total_timesteps % (a.num_envs * a.n_steps) == 0
        # every setting a preset does not list is the paper's (Args' defaults)
        for key in ("gamma", "gae_lambda", "clip_range", "ent_coef", "n_steps", "num_envs"):
            assert getattr(a, key) == settings.get(key, getattr(paper, key)), (env, key)
    assert (paper.gamma, paper.clip_range, paper.ent_coef, paper.n_steps) == (0.99, 0.2, 0.0, 64)
    walker = parse_args(preset_argv("WalkerRun"))  # boolean settings become --flag / --no-flag
    assert walker.norm_obs and walker.norm_reward
    assert not parse_args(preset_argv("CheetahRun")).norm_obs


def test_training_writes_logs_checkpoints_and_a_portable_model(tiny_run):
    rows = list(csv.DictReader((tiny_run / "eval.csv").read_text().splitlines()))
    assert [int(r["step"]) for r in rows] == [128, 256]
    for r in rows:  # Cartpole returns are per-step rewards in [0, 1] summed over 1000 steps
        assert 0.0 <= float(r["mean_return"]) <= 1000.0
    assert (tiny_run / "checkpoints" / "step_128.zip").exists()
    assert (tiny_run / "best.zip").exists() and (tiny_run / "progress.csv").exists()
    # the saved model loads with stock SB3 and remembers its noise exponent
    from stable_baselines3 import PPO
    from stable_baselines3.common.policies import ActorCriticPolicy

    model = PPO.load(str(tiny_run / "final.zip"), device="cpu")
    assert type(model.policy) is ActorCriticPolicy
    assert model.colored_noise_beta == 2.0


def test_training_samples_use_colored_noise():
    """The rollout distribution draws mean + std * (the process's next colored step)."""
    from stable_baselines3 import PPO

    from agents.colored_noise import ColoredNoisePolicy

    env = jacwrap.make_sb3(ENV, 4, jacobians=False)
    model = PPO(
        ColoredNoisePolicy,
        env,
        n_steps=8,
        batch_size=8,
        device="cpu",
        policy_kwargs=dict(noise_beta=1.0, noise_num_envs=4, noise_seq_len=50, noise_seed=3),
    )
    dist = model.policy.action_dist
    assert isinstance(dist, ColoredNoiseDiagGaussian)
    expected_eps = colored_noise(1.0, (4, 1), 50, np.random.default_rng(3))
    obs = torch.as_tensor(env.reset())
    for t in range(3):
        with torch.no_grad():
            d = model.policy.get_distribution(obs)
            a = d.get_actions().numpy()
            mean, std = d.distribution.mean.numpy(), d.distribution.stddev.numpy()
        np.testing.assert_allclose(a, mean + std * expected_eps[..., t], rtol=1e-5, atol=1e-6)
    # another batch size (evaluation, one predict) falls back to white noise, same shape
    with torch.no_grad():
        assert model.policy.get_distribution(obs[:2]).get_actions().shape == (2, 1)


def test_policy_rollout_is_mean_plus_std_times_colored_noise(tiny_run):
    info = describe(load_playground(ENV), ENV)
    pol = load_policy(str(tiny_run / "final.zip"), info)
    assert isinstance(pol, SB3Policy) and pol.beta == 2.0 and "beta=2" in pol.description
    obs = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    pol.reset(3, seed=11)
    eps = colored_noise(2.0, (3, 1), info.episode_length, np.random.default_rng(11))
    with torch.no_grad():
        d = pol.model.policy.get_distribution(torch.as_tensor(obs)).distribution
        mean, std = d.mean.numpy(), d.stddev.numpy()
    for t in range(4):
        expected = np.clip(mean + std * eps[..., t], info.ctrl_low, info.ctrl_high)
        np.testing.assert_allclose(pol.act(obs), expected, rtol=1e-5, atol=1e-6)
    pol.reset(3, seed=11)  # reproducible
    np.testing.assert_allclose(pol.act(obs), np.clip(mean + std * eps[..., 0], -1, 1), atol=1e-6)


def test_policy_with_wrong_action_shape_is_refused(tiny_run):
    from jacwrap.policies import PolicyError

    info = describe(load_playground("ReacherHard"), "ReacherHard")  # m = 2, Cartpole's m = 1
    with pytest.raises(PolicyError, match="ReacherHard"):
        load_policy(str(tiny_run / "final.zip"), info)


def test_eight_policies_are_shipped():
    assert {p.stem for p in SHIPPED} == set(jacwrap.PAPER_ENVS)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_policy_loads_and_acts_in_its_env(path):
    env = load_playground(path.stem)
    info = describe(env, path.stem)
    pol = load_policy(str(path), info)
    assert pol.beta >= 0
    obs_dim = pol.model.observation_space.shape[0]
    assert pol.model.observation_space.shape == (env.observation_size,)
    pol.reset(2, seed=0)
    a = pol.act(np.zeros((2, obs_dim), np.float32))
    assert a.shape == (2, info.nu) and np.all(np.isfinite(a))
    assert np.all(a >= info.ctrl_low) and np.all(a <= info.ctrl_high)


@pytest.mark.slow
def test_short_training_run_raises_the_cartpole_return(tmp_path):
    """About 250k steps with the shipped settings take Cartpole from ~300 to > 800."""
    args = Args(
        env=ENV,
        total_timesteps=245_760,
        learning_rate=3e-4,
        batch_size=512,
        beta=0.5,
        eval_freq=40_960,
        out=str(tmp_path),
        progress=False,
    )
    train(args)
    ret = [
        float(r["mean_return"])
        for r in csv.DictReader((tmp_path / "eval.csv").read_text().splitlines())
    ]
    assert ret[0] < 500 and ret[-1] > 750 and ret[-1] > ret[0] + 300


@pytest.mark.slow
def test_shipped_cartpole_policy_balances():
    from agents.evaluate import evaluate

    returns, _ = evaluate(str(POLICY_DIR / f"{ENV}.zip"), ENV, episodes=4, seed=123)
    assert returns.mean() > 990


def test_learning_rate_schedules():
    from agents.train_ppo import learning_rate

    assert learning_rate(parse_args(["--learning-rate", "3e-4"])) == 3e-4
    linear = learning_rate(parse_args(["--learning-rate", "1e-3", "--lr-schedule", "linear"]))
    assert linear(1.0) == pytest.approx(1e-3) and linear(0.25) == pytest.approx(2.5e-4)
    with pytest.raises(ValueError, match="lr-schedule"):
        learning_rate(parse_args(["--lr-schedule", "cosine"]))
