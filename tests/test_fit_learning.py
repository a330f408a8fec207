"""Real learning tests of the loss modes on a linear system with a known sparse Jacobian.

These fail when a loss mode is wired wrong: the Jacobian MSE term must fix the Jacobian
that the state loss alone leaves undetermined, and the sparsity-aware term must push the
model's Jacobian towards zero exactly where the ground truth is zero.
"""

from __future__ import annotations

import numpy as np
import pytest
from fit_systems import A, B, linear_data

from jacwrap.fit.train import FitConfig, fit

#: Small and short: a 32x32 MLP, 200 epochs of 1800 samples (a few seconds per fit).
#: Induced sparsity is measured at 1e-3 here: the paper's 1e-6 needs far longer training
#: than a unit test allows (and even then stays low; that is the paper's finding).
BASE = dict(hidden=(32, 32), epochs=200, batch_size=128, learned_threshold=1e-3)


@pytest.fixture(scope="module")
def fits():
    data = linear_data()
    modes = ("state", "state-jacobian", "state-jacobian-l1-sparse-only")
    return data, {m: fit(data, FitConfig(loss_mode=m, **BASE)) for m in modes}


def test_training_reduces_the_state_error(fits):
    _, results = fits
    for res in results.values():
        s = res.summary.raw
        assert s["final"]["test_mse"] < 0.05 * s["initial"]["test_mse"]
        assert s["final"]["test_mse"] < 0.02


def test_jacobian_term_recovers_the_jacobian_the_state_loss_leaves_open(fits):
    _, results = fits
    err_state = results["state"].summary.raw["final"]["test_jacobian_mse"]
    err_jac = results["state-jacobian"].summary.raw["final"]["test_jacobian_mse"]
    assert err_jac < 0.25 * err_state
    # and in original units, against the true A and B
    model = results["state-jacobian"].model
    rng = np.random.default_rng(5)
    js, ja = model.jacobian(rng.normal(size=(50, 4)) * 0.5, rng.normal(size=(50, 2)) * 0.5)
    assert np.abs(js - A).mean() < 0.05 and np.abs(ja - B).mean() < 0.05


def test_sparse_only_term_induces_sparsity_where_the_truth_is_zero(fits):
    _, results = fits
    sp_state = results["state"].summary.induced_sparsity
    sp_sparse = results["state-jacobian-l1-sparse-only"].summary.induced_sparsity
    target = results["state"].summary.target_sparsity
    assert target == pytest.approx(15 / 24)  # 9 + 6 zeros of 24, the hand count
    assert sp_sparse > 3 * sp_state and sp_sparse - sp_state > 0.05
    zero_err = {
        m: results[m].summary.raw["final"]["test_jacobian_mae_on_zeros"]
        for m in ("state", "state-jacobian-l1-sparse-only")
    }
    assert zero_err["state-jacobian-l1-sparse-only"] < 0.3 * zero_err["state"]
