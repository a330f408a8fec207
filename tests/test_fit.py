"""Unit tests of the fit package: normalisation, loss modes, model, data split, summaries, plot."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fit_systems import linear_data

from jacwrap.errors import JacwrapError
from jacwrap.fit.data import FitData, FitDataError, split_indices
from jacwrap.fit.losses import LOSS_MODES, jacobian_term, needs_jacobian, state_mse
from jacwrap.fit.model import DynamicsModel, ModelConfig, ModelFileError, init_params
from jacwrap.fit.normalize import (
    Normalization,
    ZScore,
    denormalize_jacobian,
    normalize_jacobian,
)
from jacwrap.fit.summary import (
    FitSummary,
    FitSummaryError,
    find_fit_summaries,
    fits_dir,
    read_summary,
    write_summary,
)
from jacwrap.fit.train import FitConfig, fit

jax.config.update("jax_enable_x64", True)


# -- normalisation ----------------------------------------------------------------------------
def test_normalize_jacobian_hand_values():
    jac = np.array([[2.0, 1.0], [4.0, -3.0]])
    out = normalize_jacobian(jac, np.array([3.0, 0.5]), np.array([6.0, 2.0]))
    # J_n[i, j] = J[i, j] sigma_in[j] / sigma_out[i]
    np.testing.assert_allclose(out, [[1.0, 1.0 / 12.0], [6.0, -0.75]])
    back = denormalize_jacobian(out, np.array([3.0, 0.5]), np.array([6.0, 2.0]))
    np.testing.assert_allclose(back, jac)


def _nonlinear(x, w):
    """f(x) = tanh(W x) * 3 + x[:2]**2, with Jacobian 3 diag(1 - tanh^2) W + [diag(2 x[:2]) 0]."""
    return 3.0 * jnp.tanh(w @ x) + jnp.concatenate([x[:2] ** 2])


def _nonlinear_jac(x, w):
    t = np.tanh(w @ x)
    jac = 3.0 * (1 - t**2)[:, None] * w
    jac[:, :2] += np.diag(2 * x[:2])
    return jac


def test_autodiff_jacobian_of_normalised_map_equals_transformed_ground_truth():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(2, 3))
    xs = rng.normal(size=(500, 3)) * np.array([5.0, 0.1, 2.0]) + np.array([1.0, -2.0, 0.0])
    ys = np.stack([np.asarray(_nonlinear(jnp.asarray(x), w)) for x in xs])
    zin, zout = ZScore.fit(xs), ZScore.fit(ys)
    assert not np.allclose(zin.std, 1) and not np.allclose(zout.std, 1)

    def f_n(x_n):
        return zout.apply(_nonlinear(zin.invert(x_n), w))

    for x in xs[:5]:
        auto = np.asarray(jax.jacfwd(f_n)(jnp.asarray(zin.apply(x))))
        want = normalize_jacobian(_nonlinear_jac(x, w), zin.std, zout.std)
        np.testing.assert_allclose(auto, want, rtol=1e-10, atol=1e-12)


def test_zscore_constant_variable_gets_unit_std():
    z = ZScore.fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_allclose(z.mean, [2.0, 5.0])
    np.testing.assert_allclose(z.std, [1.0, 1.0])
    np.testing.assert_allclose(z.apply(np.array([4.0, 5.0])), [2.0, 0.0])


# -- losses -----------------------------------------------------------------------------------
def test_jacobian_terms_hand_values():
    jh = jnp.array([[[0.5, 1.0]], [[9.0, 9.0]]])  # second sample is padding (weight 0)
    j = jnp.array([[[0.0, 2.0]], [[0.0, 0.0]]])
    zero = jnp.array([[[True, False]], [[True, True]]])
    w = jnp.array([1.0, 0.0])
    want = {
        "state": 0.0,
        "state-jacobian": (0.25 + 1.0) / 2,
        "state-jacobian-l1": (0.5 + 1.0) / 2,
        "state-jacobian-l1-regularizer": (0.5 + 1.0) / 2,
        "state-jacobian-l1-sparse-only": 0.5,
    }
    assert set(want) == set(LOSS_MODES)
    for mode, value in want.items():
        assert float(jacobian_term(mode, jh, j, zero, w)) == pytest.approx(value), mode
    # regularizer ignores J; l1 does not
    j2 = j.at[0, 0, 1].set(1.0)
    assert float(jacobian_term("state-jacobian-l1-regularizer", jh, j2, zero, w)) == 0.75
    assert float(jacobian_term("state-jacobian-l1", jh, j2, zero, w)) == 0.25
    assert not needs_jacobian("state") and needs_jacobian("state-jacobian-l1")
    with pytest.raises(ValueError, match="unknown loss mode"):
        jacobian_term("jacobian", jh, j, zero, w)


def test_sparse_only_mean_runs_over_zero_elements():
    jh = jnp.array([[[0.2, 5.0, 0.4]], [[0.6, 7.0, 0.0]]])
    j = jnp.array([[[0.0, 5.0, 0.0]], [[0.0, 1.0, 0.0]]])
    zero = j == 0
    term = jacobian_term("state-jacobian-l1-sparse-only", jh, j, zero, jnp.ones(2))
    assert float(term) == pytest.approx((0.2 + 0.4 + 0.6 + 0.0) / 4)


def test_state_mse_weights():
    pred = jnp.array([[1.0, 1.0], [0.0, 0.0], [5.0, 5.0]])
    target = jnp.zeros((3, 2))
    assert float(state_mse(pred, target, jnp.array([1.0, 1.0, 0.0]))) == pytest.approx(0.5)


# -- data -------------------------------------------------------------------------------------
def test_split_is_disjoint_and_ten_percent():
    tr, te = split_indices(1000, 0.1, seed=3)
    assert len(te) == 100 and len(tr) == 900
    assert len(np.intersect1d(tr, te)) == 0 and len(np.union1d(tr, te)) == 1000
    tr2, te2 = split_indices(1000, 0.1, seed=3)
    np.testing.assert_array_equal(te, te2)
    with pytest.raises(FitDataError):
        split_indices(1, 0.1, 0)


def test_fit_data_drops_non_finite_and_computes_masks():
    js = np.zeros((3, 2, 2))
    js[:, 0, 0] = [1.0, np.nan, 1e-13]
    ja = np.ones((3, 2, 1))
    d = FitData.from_arrays(np.zeros((3, 2)), np.zeros((3, 1)), np.zeros((3, 2)), js, ja)
    assert len(d) == 2 and d.dropped_nonfinite == 1
    assert d.zero[0].tolist() == [[False, True, False], [True, True, False]]
    assert d.zero[1, 0, 0]  # 1e-13 < 1e-12
    np.testing.assert_allclose(d.sparsity[0], [0.75, 0.0, 0.5])
    with pytest.raises(FitDataError, match="jac_action"):
        FitData.from_arrays(np.zeros((3, 2)), np.zeros((3, 1)), np.zeros((3, 2)), js, ja[:, :1, :])


# -- model ------------------------------------------------------------------------------------
def test_kaiming_init_statistics():
    params = init_params(jax.random.PRNGKey(0), 400, 3, (512, 512))
    w = np.asarray(params[1][0])
    assert w.shape == (512, 512)
    assert w.std() == pytest.approx(np.sqrt(2 / 512), rel=0.02)
    assert np.all(np.asarray(params[0][1]) == 0)


@pytest.mark.parametrize("residual", [False, True])
def test_model_jacobian_matches_finite_differences_and_round_trips(tmp_path, residual):
    rng = np.random.default_rng(1)
    norm = Normalization.fit(
        rng.normal(size=(50, 3)) * 2 + 1, rng.normal(size=(50, 2)), rng.normal(size=(50, 3)) * 4
    )
    cfg = ModelConfig(n=3, m=2, hidden=(16, 16), residual=residual)
    params = init_params(jax.random.PRNGKey(2), 5, 3, cfg.hidden, jnp.float64)
    model = DynamicsModel(params, norm, cfg)
    s, a = rng.normal(size=3), rng.normal(size=2)
    js, ja = model.jacobian(s, a)
    x, eps = np.concatenate([s, a]), 1e-6
    fd = np.stack(
        [
            (model.predict((x + eps * e)[:3], (x + eps * e)[3:]) - model.predict(
                (x - eps * e)[:3], (x - eps * e)[3:]
            ))
            / (2 * eps)
            for e in np.eye(5)
        ],
        axis=1,
    )  # fmt: skip
    np.testing.assert_allclose(np.concatenate([js, ja], axis=1), fd, rtol=1e-6, atol=1e-8)
    batch = model.predict(np.stack([s, s]), np.stack([a, a]))
    np.testing.assert_allclose(batch[1], model.predict(s, a))
    path = model.save(tmp_path / "m.npz")
    loaded = DynamicsModel.load(path)
    assert loaded.config == cfg
    np.testing.assert_allclose(loaded.predict(s, a), model.predict(s, a))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="bad.npz"):
        DynamicsModel.load(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="size"):
        model.predict(np.zeros(2), a)


# -- summaries --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_summary():
    data = linear_data(num=300)
    cfg = FitConfig(loss_mode="state-jacobian-l1", hidden=(8,), epochs=2, batch_size=64)
    return fit(data, cfg)


def test_summary_fields_and_round_trip(tmp_path, tiny_summary):
    s = tiny_summary.summary
    raw = s.raw
    assert raw["loss_mode"] == "state-jacobian-l1" and raw["n"] == 4 and raw["m"] == 2
    assert raw["data"]["num_test"] == 30 and raw["data"]["num_train"] == 270
    assert len(raw["history"]["epoch"]) == 2 and raw["history"]["epoch"] == [1, 2]
    assert raw["target_sparsity"]["combined"] == pytest.approx(15 / 24)
    assert raw["config"]["batch_size"] == 64 and raw["learned_threshold"] == 1e-6
    cfg = FitConfig.from_dict(raw["config"])
    assert cfg == FitConfig(loss_mode="state-jacobian-l1", hidden=(8,), epochs=2, batch_size=64)
    path = write_summary(s, tmp_path / "x.json")
    again = read_summary(path)
    assert again.raw == json.loads(s.to_json())
    assert again.test_mse == pytest.approx(s.test_mse)


def test_summary_validation_names_the_problem(tmp_path, tiny_summary):
    raw = json.loads(tiny_summary.summary.to_json())
    bad = dict(raw, loss_mode="nope")
    with pytest.raises(FitSummaryError, match="loss_mode"):
        FitSummary(bad)
    bad = json.loads(json.dumps(raw))
    bad["final"]["sparsity"]["state"] = 1.5
    with pytest.raises(FitSummaryError, match=r"final\.sparsity\.state"):
        FitSummary(bad)
    bad = json.loads(json.dumps(raw))
    bad["history"]["test_mse"].append(0.1)
    with pytest.raises(FitSummaryError, match="differ in length"):
        FitSummary(bad)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(FitSummaryError, match="broken.json"):
        read_summary(tmp_path / "broken.json")
    assert issubclass(FitSummaryError, JacwrapError)


def test_find_fit_summaries_next_to_recording(tmp_path, tiny_summary):
    rec = tmp_path / "run1.jwr"
    assert find_fit_summaries(rec) == []
    d = fits_dir(rec)
    assert d == tmp_path / "run1.fits"
    raw = json.loads(tiny_summary.summary.to_json())
    for mode, seed in (("state-jacobian", 1), ("state", 2), ("state", 0)):
        write_summary(FitSummary(dict(raw, loss_mode=mode, seed=seed)), d / f"{mode}-{seed}.json")
    (d / "junk.json").write_text('{"schema": "other"}')
    errors: list[str] = []
    found = find_fit_summaries(rec, errors)
    assert [(s.loss_mode, s.seed) for s in found] == [
        ("state", 0),
        ("state", 2),
        ("state-jacobian", 1),
    ]
    assert len(errors) == 1 and "junk.json" in errors[0]
    assert all(0 <= s.induced_sparsity <= 1 for s in found)


def test_comparison_plot_writes_a_png(tmp_path, tiny_summary):
    from jacwrap.fit.plot import plot_fit_comparison

    raw = json.loads(tiny_summary.summary.to_json())
    sums = []
    for mode in ("state", "state-jacobian-l1-sparse-only"):
        for seed, sp in ((0, 0.0), (1, 1e-4), (2, 3e-3)):
            r = json.loads(json.dumps(raw))
            r.update(loss_mode=mode, seed=seed)
            r["final"]["sparsity"]["combined"] = sp
            sums.append(FitSummary(r))
    out = plot_fit_comparison(sums, tmp_path / "cmp.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
