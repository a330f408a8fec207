"""TorchTransitions / IterableTransitions: the recording's values as tensors, lazily.

Oracles: the reader's own arrays, and the z-score written out in NumPy (np.mean / np.std
over the finite steps, J_n[i, j] = J[i, j] sigma_in[j] / sigma_out[i]).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from recordings_data import write_recording

from jacwrap.data import DataError, TorchTransitions
from jacwrap.recording import open_recording

DEMO = "recordings/demo-CartpoleBalance.jwr"


@pytest.fixture(scope="module")
def rec_path(tmp_path_factory):
    d = tmp_path_factory.mktemp("torch")
    return write_recording(d / "a.jwr", episodes=(40, 25, 31, 19), nan_every=7, chunk_steps=8)


def _finite_steps(*paths):
    parts = []
    for p in paths:
        with open_recording(p) as rec:
            s = rec.read(0, rec.num_steps)
        parts.append(s[np.flatnonzero(s.finite)])
    return parts


def _stack(items, k):
    return np.stack([item[k].numpy() for item in items])


def test_map_style_yields_the_recorded_values(rec_path):
    (steps,) = _finite_steps(rec_path)
    ds = TorchTransitions([rec_path], cache_chunks=2)
    assert len(ds) == len(steps) < 115  # the NaN steps are left out
    items = [ds[i] for i in range(len(ds))]
    for k, name in enumerate(("state", "action", "next_state", "jac_state", "jac_action")):
        assert items[0][k].dtype == torch.float64
        assert np.array_equal(_stack(items, k), getattr(steps, name)), name
    assert ds.cached_chunks <= 2
    rng = np.random.default_rng(0)
    for i in rng.permutation(len(ds))[:20]:  # random access
        assert np.array_equal(ds[int(i)][3].numpy(), steps.jac_state[i])
    assert np.array_equal(ds[-1][0].numpy(), steps.state[-1])
    with pytest.raises(IndexError):
        ds[len(ds)]
    other = TorchTransitions(rec_path, fields=("obs", "reward", "finite", "episode", "t"),
                             drop_nonfinite=False, dtype=torch.float32)  # fmt: skip
    with open_recording(rec_path) as rec:
        every = rec.read(0, rec.num_steps)
    assert len(other) == len(every)
    x = other[9]
    assert x[0].dtype == torch.float32 and x[2].dtype == torch.bool and x[3].dtype == torch.int64
    assert (x[3].item(), x[4].item()) == (int(every.episode[9]), int(every.t[9]))
    with pytest.raises(DataError, match="unknown field"):
        TorchTransitions(rec_path, fields=("jacobian",))


def test_normalisation_is_spec_z_scoring(rec_path):
    (steps,) = _finite_steps(rec_path)
    ds = TorchTransitions([rec_path], normalize=True)
    x = np.concatenate([steps.state, steps.action], 1)
    mu_in, sd_in = x.mean(0), x.std(0)
    mu_out, sd_out = steps.next_state.mean(0), steps.next_state.std(0)
    n = steps.state.shape[1]
    items = [ds[i] for i in range(len(ds))]
    want = [
        (steps.state - mu_in[:n]) / sd_in[:n],
        (steps.action - mu_in[n:]) / sd_in[n:],
        (steps.next_state - mu_out) / sd_out,
        steps.jac_state * sd_in[None, None, :n] / sd_out[None, :, None],
        steps.jac_action * sd_in[None, None, n:] / sd_out[None, :, None],
    ]
    for k, w in enumerate(want):
        np.testing.assert_allclose(_stack(items, k), w, rtol=1e-12, atol=1e-12)
    exact = steps.jac_state == 0  # structural zeros stay exact zeros
    assert exact.any() and (_stack(items, 3)[exact] == 0).all()
    # given statistics are used as they are
    again = TorchTransitions([rec_path], normalize=ds.normalization)
    assert torch.equal(again[5][3], ds[5][3])


def test_dataloader_with_two_workers_reads_the_file_lazily(rec_path):
    """The dataset pickles without its data (what a spawned worker gets); each worker opens
    the file itself. The loaders are written as users write them (Linux: forked workers)."""
    (steps,) = _finite_steps(rec_path)
    ds = TorchTransitions([rec_path], cache_chunks=2)
    assert len(pickle.dumps(ds)) < 4000 < rec_path.stat().st_size  # no steps inside
    loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=2)
    batches = list(loader)
    assert ds.cached_chunks == 0  # the main process decoded nothing
    s, a, sp, js, ja = (torch.cat([b[k] for b in batches]).numpy() for k in range(5))
    assert np.array_equal(s, steps.state) and np.array_equal(js, steps.jac_state)
    assert np.array_equal(sp, steps.next_state) and np.array_equal(ja, steps.jac_action)

    stream = ds.iterable(shuffle=True, seed=3)
    loader = torch.utils.data.DataLoader(stream, batch_size=10, num_workers=2)
    got = torch.cat([b[3] for b in loader]).numpy()
    assert len(got) == len(steps)
    assert not np.array_equal(got, steps.jac_state)  # shuffled ...
    order = np.lexsort(got.reshape(len(got), -1).T)
    want = np.lexsort(steps.jac_state.reshape(len(got), -1).T)
    assert np.array_equal(got[order], steps.jac_state[want])  # ... the same steps


def test_iterable_in_order_and_several_files(rec_path):
    parts = _finite_steps(rec_path, DEMO)
    ds = TorchTransitions([rec_path, DEMO], fields=("state", "jac_action"))
    assert len(ds) == sum(len(p) for p in parts)
    assert np.array_equal(ds[len(parts[0])][0].numpy(), parts[1].state[0])
    items = list(ds.iterable())
    assert np.array_equal(_stack(items, 0), np.concatenate([p.state for p in parts]))
