"""jacwrap.score / `jacwrap score`: a user's model against a recording's ground truth (Q4).

Oracles: a linear model's Jacobian is its matrix, and its metrics are written out here in
NumPy; the true transition (jacwrap's own env step, wrapped as a model) reproduces the
recorded Jacobians, hence their sparsity, with ~zero error; a model fitted by `jacwrap fit`
scores what its summary says.
"""

from __future__ import annotations

import json
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jacwrap
from jacwrap.cli import main
from jacwrap.data import ModelError, model_jacobians
from jacwrap.fit.normalize import Normalization
from jacwrap.recording import open_recording

DEMO = "recordings/demo-CartpoleBalance.jwr"

# A linear model s' = A s + B a + c with exact zeros and one entry below 1e-6 (a "zero" of a
# learned model, not of the ground truth).
A = np.eye(4) + 0.01 * np.arange(16.0).reshape(4, 4)
A[0, 3] = A[2, 1] = 0.0
A[1, 0] = 1e-9
B = np.array([[0.0], [0.1], [0.0], [0.5]])
C = np.array([0.01, -0.02, 0.0, 0.03])


def linear_jax(s, a):
    return s @ jnp.asarray(A).T + a @ jnp.asarray(B).T + jnp.asarray(C)


class LinearTorch(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(5, 4).double()
        self.drop = torch.nn.Dropout(0.5)  # must be off while scoring
        with torch.no_grad():
            self.layer.weight.copy_(torch.tensor(np.concatenate([A, B], axis=1)))
            self.layer.bias.copy_(torch.tensor(C))

    def forward(self, s, a):
        return self.drop(self.layer(torch.cat([s, a], dim=-1)))


@pytest.fixture(scope="module")
def demo():
    with open_recording(DEMO) as rec:
        return rec.read(0, rec.num_steps)


def linear_oracle(steps, threshold=1e-6):
    """The Q4 metrics of the linear model, in normalised space, written out in NumPy."""
    s, a, sp = steps.state, steps.action, steps.next_state
    x = np.concatenate([s, a], 1)
    sd_in, sd_out = x.std(0), sp.std(0)
    pred = s @ A.T + a @ B.T + C
    scale = sd_in[None, :] / sd_out[:, None]
    jh = np.concatenate([A, B], 1) * scale  # the same for every sample
    j = np.concatenate([steps.jac_state, steps.jac_action], -1) * scale
    zero = np.concatenate([steps.zero_state, steps.zero_action], -1)
    err = np.abs(jh - j)
    mz = np.abs(jh) < threshold
    return {
        "next_state_mse": np.mean(((pred - sp) / sd_out) ** 2),
        "jacobian_mse": np.mean((jh - j) ** 2),
        "jacobian_mae": np.mean(err),
        "jacobian_mae_on_zeros": np.abs(np.broadcast_to(jh, j.shape))[zero].mean(),
        "jacobian_mae_on_nonzeros": err[~zero].mean(),
        "zeros_recovered": np.broadcast_to(mz, zero.shape)[zero].mean(),
        "sparsity": [mz[:, :4].mean(), mz[:, 4:].mean(), mz.mean()],
    }


def test_linear_model_jacobian_is_its_matrix():
    s = np.random.default_rng(0).normal(size=(7, 4))
    a = np.random.default_rng(1).normal(size=(7, 1))
    for model in (linear_jax, LinearTorch()):
        pred, js, ja = model_jacobians(model, s, a)
        np.testing.assert_allclose(pred, s @ A.T + a @ B.T + C, rtol=0, atol=1e-15)
        assert np.array_equal(js, np.broadcast_to(A, js.shape))
        assert np.array_equal(ja, np.broadcast_to(B, ja.shape))
    # a per-sample function, reverse mode
    _, js, _ = model_jacobians(lambda s_, a_: A @ s_ + B @ a_, s, a, batched=False, mode="rev")
    assert np.array_equal(js, np.broadcast_to(A, js.shape))


def test_linear_model_metrics_match_the_oracle(demo):
    want = linear_oracle(demo)
    reports = [jacwrap.score(m, DEMO, batch_size=100) for m in (linear_jax, LinearTorch())]
    for r in reports:
        assert (r.num_samples, r.dropped_nonfinite, r.space) == (240, 0, "normalized")
        for k, v in want.items():
            np.testing.assert_allclose(
                [r.metrics[k]["state"], r.metrics[k]["action"], r.metrics[k]["combined"]]
                if k == "sparsity"
                else r.metrics[k],
                v,
                rtol=1e-12,
                err_msg=k,
            )
        assert r.metrics["sparsity"]["state"] == 3 / 16  # two exact zeros and the 1e-9 entry
        assert r.target_sparsity["combined"] == pytest.approx(demo.sparsity[:, 2].mean())
    jx, tc = (dict(r.metrics) for r in reports)
    assert jx.pop("sparsity") == tc.pop("sparsity")
    assert jx == pytest.approx(tc, rel=1e-12)
    assert LinearTorch().training  # scoring restores the module's mode


def test_true_transition_recovers_the_ground_truth(demo):
    """jacwrap's own CartpoleBalance step as the model: same Jacobians, same sparsity."""
    from jacwrap.envs import load_playground
    from jacwrap.jacobians import transition

    env = load_playground("CartpoleBalance")
    state0 = jax.jit(env.reset)(jax.random.PRNGKey(0))
    true_step = lambda s, a: transition(env, state0, s, a)[0]  # noqa: E731
    k = 32
    r = jacwrap.score(
        true_step, DEMO, batched=False, normalize=False, threshold=1e-12, max_samples=k,
        batch_size=k,
    )  # fmt: skip
    assert r.num_samples == k and r.space == "original"
    assert r.metrics["next_state_mse"] < 1e-24
    assert r.metrics["jacobian_mae"] < 1e-12
    assert r.metrics["jacobian_mae_on_zeros"] == 0.0
    assert r.metrics["zeros_recovered"] == 1.0
    want = demo.sparsity[:k].mean(0)
    assert [r.metrics["sparsity"][x] for x in ("state", "action", "combined")] == pytest.approx(
        want, abs=1e-15
    )
    kinds = ("state", "action", "combined")
    assert r.target_sparsity == pytest.approx(dict(zip(kinds, want, strict=True)))


def test_fit_summary_numbers_are_the_scorers(tmp_path):
    """`jacwrap fit` measures its MLP with the scorer: scoring the saved model on the test
    split in the fit's normalisation gives the summary's final metrics."""
    from jacwrap.fit import FitConfig, FitData, fit, load_fit_data
    from jacwrap.fit.data import split_indices

    data = load_fit_data(DEMO)
    cfg = FitConfig(loss_mode="state", epochs=2, hidden=(16, 16), batch_size=64)
    result = fit(data, cfg)
    _, test = split_indices(len(data), cfg.test_fraction, cfg.split_seed)
    n = data.n
    test_data = FitData.from_arrays(
        data.state[test], data.action[test], data.next_state[test], data.jac_state[test],
        data.jac_action[test], zero_state=data.zero[test][..., :n],
        zero_action=data.zero[test][..., n:], sparsity=data.sparsity[test],
        env_name=data.env_name,
    )  # fmt: skip
    path = result.model.save(tmp_path / "m.npz")
    model = jacwrap.fit.DynamicsModel.load(path)
    r = jacwrap.score(model, test_data)  # a DynamicsModel brings its normalisation
    final = result.summary.raw["final"]
    assert r.metrics["next_state_mse"] == pytest.approx(final["test_mse"], rel=1e-9)
    assert r.metrics["jacobian_mae"] == pytest.approx(final["test_jacobian_mae"], rel=1e-9)
    assert r.metrics["jacobian_mae_on_zeros"] == pytest.approx(
        final["test_jacobian_mae_on_zeros"], rel=1e-9
    )
    assert r.metrics["sparsity"] == pytest.approx(final["sparsity"])
    assert r.target_sparsity == pytest.approx(result.summary.raw["target_sparsity"])


def test_score_command_with_a_users_module(tmp_path, capsys, demo):
    mod = tmp_path / "my_world_model.py"
    mod.write_text(
        textwrap.dedent(f"""
        import jax.numpy as jnp
        A = jnp.array({A.tolist()})
        B = jnp.array({B.tolist()})
        C = jnp.array({C.tolist()})
        def predict(s, a):
            return s @ A.T + a @ B.T + C
        """)
    )
    out = tmp_path / "score.json"
    argv = ["score", DEMO, "--model", f"{mod}:predict", "--format", "json", "--out", str(out)]
    assert main(argv) == 0
    got = json.loads(out.read_text())
    assert got["metrics"]["jacobian_mae"] == pytest.approx(linear_oracle(demo)["jacobian_mae"])
    assert got["model"].endswith(":predict")
    assert main(["score", DEMO, "--model", f"{mod}:nope"]) == 2
    assert "has no attribute 'nope'" in capsys.readouterr().err


def test_wrong_output_shape_is_a_model_error():
    with pytest.raises(ModelError, match="expected \\(4,\\)"):
        model_jacobians(lambda s, a: s[:, :2], np.zeros((3, 4)), np.zeros((3, 1)))


def test_normalization_given_is_used(demo):
    norm = Normalization.fit(demo.state[:100], demo.action[:100], demo.next_state[:100])
    r = jacwrap.score(linear_jax, DEMO, normalization=norm)
    other = jacwrap.score(linear_jax, DEMO)
    assert r.metrics["next_state_mse"] != pytest.approx(other.metrics["next_state_mse"])
    raw = jacwrap.score(linear_jax, DEMO, normalize=False)
    pred = demo.state @ A.T + demo.action @ B.T + C
    assert raw.metrics["next_state_mse"] == pytest.approx(np.mean((pred - demo.next_state) ** 2))
