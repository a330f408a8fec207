"""End to end: recordings -> load_fit_data -> ``jacwrap fit`` -> summaries, models, figure."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from fit_systems import A, B

from jacwrap.commands import fit as fit_command
from jacwrap.fit.data import FitDataError
from jacwrap.fit.dataset import load_fit_data
from jacwrap.fit.model import DynamicsModel
from jacwrap.fit.summary import find_fit_summaries, fits_dir, validate_summary_dict
from jacwrap.recording import RecordingHeader, RecordingWriter


def main(argv: list[str]) -> int:
    """``jacwrap fit ...`` through the command's own parser (independent of other commands)."""
    parser = argparse.ArgumentParser(prog="jacwrap")
    fit_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _write_linear(path, steps=120, env_name="Linear", seed=0):
    """A recording of the linear test system, written with the recording writer."""
    rng = np.random.default_rng(seed)
    header = RecordingHeader(
        env_name=env_name,
        nq=2,
        nv=2,
        nu=2,
        obs_dim=4,
        state_labels=("qpos:a", "qpos:b", "qvel:a", "qvel:b"),
        action_labels=("act:a", "act:b"),
        threshold=1e-12,
    )
    s = rng.normal(size=(steps, 4))
    a = rng.normal(size=(steps, 2))
    with RecordingWriter(path, header) as w:
        for t in range(steps):
            js = A.copy()
            if t == 7:
                js[0, 0] = np.inf  # a blown-up step: must be dropped, not trained on
            w.add(
                obs=s[t].astype(np.float32),
                action=a[t],
                reward=0.0,
                terminated=False,
                truncated=t == steps - 1,
                state=s[t],
                next_state=A @ s[t] + B @ a[t],
                jac_state=js,
                jac_action=B,
            )
    return s, a


def test_load_fit_data_from_recordings(tmp_path):
    s1, a1 = _write_linear(tmp_path / "one.jwr", steps=120, seed=0)
    s2, _ = _write_linear(tmp_path / "two.jwr", steps=50, seed=1)
    data = load_fit_data([tmp_path / "one.jwr", tmp_path / "two.jwr"])
    assert data.env_name == "Linear" and (data.n, data.m) == (4, 2)
    assert len(data) == 168 and data.dropped_nonfinite == 2
    keep = np.r_[0:7, 8:120]
    np.testing.assert_array_equal(data.state[:119], s1[keep])
    np.testing.assert_array_equal(data.action[:119], a1[keep])
    np.testing.assert_array_equal(data.state[119:], np.delete(s2, 7, axis=0))
    np.testing.assert_allclose(data.jac_state[0], A)
    assert data.zero[0].sum() == 15  # 9 zeros of A + 6 of B
    np.testing.assert_allclose(data.sparsity[:, 2], 15 / 24)
    assert len(load_fit_data(tmp_path / "one.jwr", max_samples=30)) == 29
    _write_linear(tmp_path / "other.jwr", steps=10, env_name="Other")
    with pytest.raises(FitDataError, match="differ"):
        load_fit_data([tmp_path / "one.jwr", tmp_path / "other.jwr"])


def test_load_fit_data_names_a_bad_file(tmp_path):
    from jacwrap.errors import JacwrapError

    bad = tmp_path / "notes.jwr"
    bad.write_bytes(b"hello, not a recording")
    with pytest.raises(JacwrapError, match="notes.jwr"):
        load_fit_data(bad)


def test_fit_command_on_a_synthetic_recording(tmp_path, capsys):
    _write_linear(tmp_path / "lin.jwr", steps=200)
    out = tmp_path / "fits"
    argv = ["fit", str(tmp_path / "lin.jwr"), "--loss-mode", "all", "--seeds", "2"]
    argv += ["--epochs", "2", "--hidden", "8,8", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    names = sorted(p.name for p in out.glob("*.json"))
    assert len(names) == 10 and "state-jacobian-l1-sparse-only-seed1.json" in names
    assert (out / "comparison.png").stat().st_size > 10_000
    assert "state-seed0: test MSE" in capsys.readouterr().out


@pytest.fixture(scope="module")
def cartpole_recording(tmp_path_factory):
    from jacwrap.recording import record_rollouts

    d = tmp_path_factory.mktemp("rec")
    return record_rollouts("CartpoleBalance", "random", episodes=1, max_steps=300, out_dir=d)


def test_fit_on_a_cartpole_recording_writes_a_valid_summary(cartpole_recording):
    rec = cartpole_recording
    argv = ["fit", str(rec), "--loss-mode", "state-jacobian", "--epochs", "2", "--quiet"]
    assert main(argv) == 0
    found = find_fit_summaries(rec)
    assert len(found) == 1
    s = found[0]
    assert validate_summary_dict(json.loads(s.path.read_text())) == []
    assert s.path.parent == fits_dir(rec) and s.path.name == "state-jacobian-seed0.json"
    assert s.env_name == "CartpoleBalance" and (s.raw["n"], s.raw["m"]) == (4, 1)
    assert s.raw["data"]["num_samples"] == 300 and s.raw["data"]["num_test"] == 30
    assert s.raw["config"]["hidden"] == [512, 512] and s.epochs == 2
    assert 0 <= s.target_sparsity <= 1 and np.isfinite(s.test_mse)
    model = DynamicsModel.load(s.model_path())
    data = load_fit_data(rec)
    pred = model.predict(data.state[:5], data.action[:5])
    js, ja = model.jacobian(data.state[:5], data.action[:5])
    assert pred.shape == (5, 4) and js.shape == (5, 4, 4) and ja.shape == (5, 4, 1)


@pytest.mark.slow
def test_all_modes_on_cartpole_with_the_paper_model(tmp_path):
    """30 epochs of every mode on 1,000 CartpoleBalance steps (2 x 512 MLP, about a minute):
    the Jacobian terms do what they are for on real simulator data."""
    from jacwrap.recording import record_rollouts

    rec = record_rollouts("CartpoleBalance", "random", episodes=2, max_steps=500, out_dir=tmp_path)
    assert main(["fit", str(rec), "--loss-mode", "all", "--epochs", "30", "--quiet"]) == 0
    fits = {s.loss_mode: s.raw["final"] for s in find_fit_summaries(rec)}
    assert len(fits) == 5 and (fits_dir(rec) / "comparison.png").exists()
    assert all(f["test_mse"] < 0.1 for f in fits.values())
    jmse = {m: f["test_jacobian_mse"] for m, f in fits.items()}
    assert jmse["state-jacobian"] < 0.8 * jmse["state"]
    assert jmse["state-jacobian-l1"] < 0.8 * jmse["state"]
    on_zeros = {m: f["test_jacobian_mae_on_zeros"] for m, f in fits.items()}
    assert on_zeros["state-jacobian-l1-sparse-only"] < 0.6 * on_zeros["state"]
