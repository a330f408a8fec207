"""Colored-noise sampler: spectrum slope, variance, independence, the per-step process."""

from __future__ import annotations

import numpy as np
import pytest

from jacwrap.noise import ColoredNoiseProcess, NoiseError, colored_noise


def spectral_slope(x: np.ndarray) -> float:
    """Least-squares slope of log power vs log frequency (periodogram averaged over rows)."""
    power = (np.abs(np.fft.rfft(x, axis=-1)) ** 2).reshape(-1, x.shape[-1] // 2 + 1).mean(0)
    f = np.fft.rfftfreq(x.shape[-1])
    keep = (f > 0) & (f < 0.5)
    return float(np.polyfit(np.log(f[keep]), np.log(power[keep]), 1)[0])


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 2.0])
def test_power_spectrum_falls_as_one_over_f_to_the_beta(beta):
    x = colored_noise(beta, (16, 2), 8192, np.random.default_rng(0))
    assert x.shape == (16, 2, 8192)
    assert spectral_slope(x) == pytest.approx(-beta, abs=0.05)


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_unit_variance_and_independent_sequences(beta):
    x = colored_noise(beta, (512,), 1000, np.random.default_rng(1))
    # unit variance along each sequence, as the colorednoise package (Timmer-Koenig) normalises
    assert x.var(axis=1).mean() == pytest.approx(1.0, abs=0.1)
    # across envs at one step: 1 for white, inflated by the random low frequencies for red
    assert 0.85 < x[:, 500].var() < 1.5
    # sequences of different envs/dims are uncorrelated
    c = np.corrcoef(x[:, 10], x[:, 10][::-1])[0, 1]
    assert abs(c) < 0.15


def test_white_noise_has_no_lag_correlation_and_red_noise_has_much():
    rng = np.random.default_rng(2)
    white = colored_noise(0.0, (64,), 1000, rng)
    red = colored_noise(2.0, (64,), 1000, rng)

    def lag1(x):
        return np.mean([np.corrcoef(r[:-1], r[1:])[0, 1] for r in x])

    assert abs(lag1(white)) < 0.02
    assert lag1(red) > 0.95


def test_same_seed_same_noise():
    a = colored_noise(1.0, (3,), 100, np.random.default_rng(7))
    b = colored_noise(1.0, (3,), 100, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("beta,length", [(-1.0, 10), (float("nan"), 10), (1.0, 0)])
def test_bad_parameters_raise(beta, length):
    with pytest.raises(NoiseError):
        colored_noise(beta, (2,), length, np.random.default_rng())


def test_process_walks_one_sequence_then_draws_a_fresh_one():
    p = ColoredNoiseProcess(1.0, num_envs=4, action_dim=3, seq_len=5, seed=0)
    buf = p._buffer.copy()
    steps = np.stack([p.sample() for _ in range(5)], axis=-1)
    np.testing.assert_array_equal(steps, buf)  # (4, 3, 5): env, dim, time
    nxt = p.sample()
    assert nxt.shape == (4, 3)
    assert not np.allclose(nxt, buf[..., 0])


def test_process_reset_envs_replaces_only_masked_envs_from_now_on():
    p = ColoredNoiseProcess(2.0, num_envs=3, action_dim=2, seq_len=10, seed=0)
    for _ in range(4):
        p.sample()
    before = p._buffer.copy()
    p.reset_envs(np.array([False, True, False]))
    after = p._buffer
    np.testing.assert_array_equal(after[[0, 2]], before[[0, 2]])
    np.testing.assert_array_equal(after[1, :, :4], before[1, :, :4])
    assert not np.allclose(after[1, :, 4:], before[1, :, 4:])
