"""Round trips of the .jwr format: every field, episodes, multi-env routing, random access."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic_recordings import synthetic_header, synthetic_steps

from jacwrap.recording import (
    EpisodeInfo,
    RecordingError,
    RecordingExistsError,
    RecordingWriter,
    Steps,
    open_recording,
)

FIELDS = (
    "obs",
    "action",
    "reward",
    "state",
    "next_state",
    "jac_state",
    "jac_action",
    "sparsity",
    "finite",
)


def _write_episodes(path, header, episodes, **kw):
    """Write episodes (list of synthetic dicts) one after the other from env 0."""
    with RecordingWriter(path, header, **kw) as w:
        for ep in episodes:
            k = len(ep["reward"])
            for t in range(k):
                w.add(0, **{f: ep[f][t] for f in ep}, end_episode=t == k - 1)
    return path


def _concat(episodes):
    return {f: np.concatenate([e[f] for e in episodes]) for f in episodes[0]}


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_round_trip_every_field_float64(tmp_path, rng):
    header = synthetic_header(4, 2, 5, policy="random", seed=7, extra={"note": [1, 2]})
    eps = [synthetic_steps(rng, k, header, nan_every=5) for k in (13, 1, 9)]
    eps[1]["terminated"][-1] = True
    eps[2]["truncated"][-1] = True
    path = _write_episodes(tmp_path / "r.jwr", header, eps, max_chunk_steps=4)
    want = _concat(eps)
    with open_recording(path) as rec:
        assert rec.truncated_tail is None
        assert rec.num_steps == 23 and len(rec) == 23
        assert rec.num_chunks == 6  # ceil(23 / 4)
        assert rec.header == header
        got = rec.read(0, 23)
        for f in FIELDS:
            assert np.array_equal(getattr(got, f), want[f], equal_nan=True), f
            assert getattr(got, f).dtype == want[f].dtype, f
        assert got.jac_state.dtype == np.float64
        assert np.array_equal(got.terminated, want["terminated"])
        assert np.array_equal(got.truncated, want["truncated"])
        # every 5th step of each episode has a NaN Jacobian entry: ep 0 steps 4, 9; ep 2 step 4
        assert list(np.flatnonzero(~got.finite)) == [4, 9, 13 + 1 + 4]
        assert np.array_equal(got.zero_state, np.abs(want["jac_state"]) < header.threshold)
        assert np.array_equal(got.zero_action, np.abs(want["jac_action"]) < header.threshold)
        assert np.array_equal(got.episode, [0] * 13 + [1] + [2] * 9)
        assert np.array_equal(got.t, list(range(13)) + [0] + list(range(9)))
        assert rec.episodes == [
            EpisodeInfo(0, 0, 0, 13, pytest.approx(eps[0]["reward"].sum()), True),
            EpisodeInfo(1, 0, 13, 1, pytest.approx(eps[1]["reward"].sum()), True),
            EpisodeInfo(2, 0, 14, 9, pytest.approx(eps[2]["reward"].sum()), True),
        ]


def test_finite_flags_follow_nan_entries(tmp_path, rng):
    header = synthetic_header(3, 1, 2)
    ep = synthetic_steps(rng, 10, header, nan_every=3)
    path = _write_episodes(tmp_path / "r.jwr", header, [ep])
    with open_recording(path) as rec:
        s = rec.read(0, 10)
    assert list(np.flatnonzero(~s.finite)) == [2, 5, 8]
    assert np.isnan(s.sparsity[[2, 5, 8]]).all()
    assert np.isfinite(s.sparsity[[0, 1, 3]]).all()


def test_float32_keeps_float64_masks(tmp_path, rng):
    thr32 = np.float32(1e-12)
    header = synthetic_header(3, 2, 4, jac_dtype="float32", threshold=float(thr32))
    ep = synthetic_steps(rng, 6, header)
    # a float64 value just below the threshold that rounds up to it in float32:
    below = np.nextafter(float(thr32), 0.0)
    assert below < header.threshold and not abs(np.float32(below)) < np.float32(thr32)
    ep["jac_state"][:, 1, 1] = below
    ep["jac_action"][2, 0, 1] = -below
    path = _write_episodes(tmp_path / "r.jwr", header, [ep])
    with open_recording(path) as rec:
        s = rec.read(0, 6)
    assert s.jac_state.dtype == np.float32 and s.jac_action.dtype == np.float32
    zs = np.abs(ep["jac_state"]) < header.threshold
    za = np.abs(ep["jac_action"]) < header.threshold
    assert zs.sum() > 6 and not (ep["jac_state"][zs] == 0).all()  # tiny non-zero values too
    # float32 values, with the entries below the threshold stored as exact zeros
    assert np.array_equal(s.jac_state, np.where(zs, 0.0, ep["jac_state"]).astype(np.float32))
    assert np.array_equal(s.jac_action, np.where(za, 0.0, ep["jac_action"]).astype(np.float32))
    assert np.array_equal(s.zero_state, zs)
    assert np.array_equal(s.zero_action, za)
    assert s.zero_state[:, 1, 1].all() and s.zero_action[2, 0, 1]
    assert np.array_equal(s.sparsity, ep["sparsity"])  # computed from float64
    assert np.array_equal(s.state, ep["state"])  # states stay float64


def test_random_access_matches_sequential(tmp_path, rng):
    header = synthetic_header(4, 2, 3)
    eps = [synthetic_steps(rng, 10, header) for _ in range(5)]
    path = _write_episodes(tmp_path / "r.jwr", header, eps, max_chunk_steps=3)
    want = _concat(eps)
    with open_recording(path) as rec:
        for k in rng.permutation(50)[:20]:
            s = rec.step(int(k))
            assert len(s) == 1
            assert np.array_equal(s.jac_state[0], want["jac_state"][k])
            assert s.episode[0] == k // 10 and s.t[0] == k % 10
        assert np.array_equal(rec.step(-1).reward, want["reward"][-1:])
        s = rec.read(7, 29)
        assert np.array_equal(s.state, want["state"][7:29])
        assert np.array_equal(rec.episode(3).obs, eps[3]["obs"])
        chunks = list(rec.iter_chunks())
        assert [len(c) for c in chunks] == [3] * 16 + [2]
        assert np.array_equal(Steps.concat(chunks).action, want["action"])
        ep2 = list(rec.iter_chunks(episode=2))
        assert np.array_equal(Steps.concat(ep2).next_state, eps[2]["next_state"])
        assert len(rec.read(5, 5)) == 0
        # callers own what they get: the cached chunk is untouched by their changes
        next(rec.iter_chunks()).reward[:] = -1.0  # chunk 0 now cached
        assert np.array_equal(rec.read(0, 3).reward, want["reward"][:3])
        rec.step(4).jac_state[:] = 7.0  # chunk 1 now cached
        assert np.array_equal(rec.read(3, 6).jac_state, want["jac_state"][3:6])
        with pytest.raises(IndexError):
            rec.read(0, 51)
        with pytest.raises(IndexError):
            rec.step(50)


def _episode_rows(data, env, t):
    return {f: data[env][f][t] for f in data[env]}


def test_multi_env_episodes_are_contiguous(tmp_path, rng):
    """Three envs with different episode lengths, stepped together: each episode comes back
    whole and in its env's order; episodes still running at close are incomplete."""
    header = synthetic_header(3, 1, 2)
    lengths = {0: [4, 6, 2], 1: [7, 3], 2: [2, 2, 2, 2]}
    data = {env: [synthetic_steps(rng, k, header) for k in ls] for env, ls in lengths.items()}
    # env 1 gets 5 extra steps of an episode that never ends
    data[1].append(synthetic_steps(rng, 5, header))
    streams = {env: _concat(eps) for env, eps in data.items()}
    ends = {
        env: np.concatenate(
            [np.arange(k) == k - 1 for k in ls] + ([np.zeros(5, bool)] if env == 1 else [])
        )
        for env, ls in lengths.items()
    }
    total = {env: len(streams[env]["reward"]) for env in streams}
    path = tmp_path / "multi.jwr"
    with RecordingWriter(path, header, max_chunk_steps=3) as w:
        for t in range(max(total.values())):
            envs = [e for e in (2, 0, 1) if t < total[e]]
            w.add_batch(
                **{f: np.stack([streams[e][f][t] for e in envs]) for f in streams[0]},
                end_episode=np.array([ends[e][t] for e in envs]),
                env_indices=envs,
            )
    with open_recording(path) as rec:
        assert rec.num_steps == sum(total.values())
        eps = rec.episodes
        assert [e.start for e in eps] == list(np.cumsum([0] + [e.length for e in eps])[:-1])
        seen = {env: [] for env in lengths}
        for e in eps:
            steps = rec.episode(e.index)
            assert np.array_equal(steps.episode, np.full(e.length, e.index))
            assert np.array_equal(steps.t, np.arange(e.length))
            seen[e.env_index].append((steps, e))
        for env, ls in lengths.items():
            want = data[env]
            got = seen[env]
            assert len(got) == len(want)
            for (steps, e), w in zip(got, want, strict=True):
                assert np.array_equal(steps.jac_state, w["jac_state"])
                assert np.array_equal(steps.obs, w["obs"])
                assert e.ret == pytest.approx(w["reward"].sum())
            assert all(e.complete for _, e in got[: len(ls)])
        assert [e.complete for _, e in seen[1]] == [True, True, False]


def test_explicit_end_episode_and_incomplete_at_close(tmp_path, rng):
    header = synthetic_header(2, 1, 2)
    ep = synthetic_steps(rng, 8, header)
    path = tmp_path / "r.jwr"
    with RecordingWriter(path, header) as w:
        for t in range(5):
            w.add(0, **{f: ep[f][t] for f in ep})
        w.end_episode(0)
        for t in range(5, 8):
            w.add(0, **{f: ep[f][t] for f in ep})
    with open_recording(path) as rec:
        assert [(e.start, e.length, e.complete) for e in rec.episodes] == [
            (0, 5, True),
            (5, 3, False),
        ]
        assert np.array_equal(rec.episode(1).t, [0, 1, 2])


def test_flush_mid_episode(tmp_path, rng):
    header = synthetic_header(2, 1, 2)
    ep = synthetic_steps(rng, 9, header)
    path = tmp_path / "r.jwr"
    with RecordingWriter(path, header) as w:
        for t in range(9):
            w.add(0, **{f: ep[f][t] for f in ep}, end_episode=t == 8)
            if t in (2, 3):
                w.flush()
        w.flush()
        w.flush()  # nothing in progress: no empty chunk
    with open_recording(path) as rec:
        assert rec.chunk_ranges() == [(0, 3), (3, 4), (4, 9)]
        assert [(e.length, e.complete) for e in rec.episodes] == [(9, True)]
        assert np.array_equal(rec.read(0, 9).t, np.arange(9))
        assert np.array_equal(rec.read(0, 9).jac_state, ep["jac_state"])


def test_never_overwrites(tmp_path, rng):
    header = synthetic_header()
    path = tmp_path / "r.jwr"
    path.write_bytes(b"precious")
    with pytest.raises(RecordingExistsError, match="overwrite"):
        RecordingWriter(path, header)
    assert path.read_bytes() == b"precious"
    with RecordingWriter(path, header, overwrite=True) as w:
        w.add(0, **{f: v[0] for f, v in synthetic_steps(rng, 1, header).items()})
    with open_recording(path) as rec:
        assert rec.num_steps == 1


def test_empty_recording(tmp_path):
    header = synthetic_header()
    with RecordingWriter(tmp_path / "e.jwr", header):
        pass
    with open_recording(tmp_path / "e.jwr") as rec:
        assert rec.num_steps == 0 and rec.episodes == [] and rec.truncated_tail is None
        s = rec.read(0, 0)
        assert len(s) == 0 and s.jac_state.shape == (0, 4, 4)
        assert list(rec.iter_chunks()) == []


def test_writer_rejects_wrong_shapes_and_closed_use(tmp_path, rng):
    header = synthetic_header(4, 2, 5)
    row = {f: v[0] for f, v in synthetic_steps(rng, 1, header).items()}
    w = RecordingWriter(tmp_path / "r.jwr", header)
    with pytest.raises(ValueError, match="jac_state"):
        w.add(0, **{**row, "jac_state": np.zeros((3, 3))})
    w.close()
    with pytest.raises(RecordingError, match="closed"):
        w.add(0, **row)


def test_header_fields_round_trip(tmp_path):
    header = synthetic_header(
        6,
        3,
        7,
        jac_dtype="float32",
        policy="sb3:x.zip",
        seed=None,
        ctrl_dt=0.025,
        versions={"jax": "0.10.2"},
        created="2026-01-01T00:00:00+00:00",
        extra={"nested": {"a": [1.5, "b"]}},
    )
    with RecordingWriter(tmp_path / "h.jwr", header):
        pass
    with open_recording(tmp_path / "h.jwr") as rec:
        h = rec.header
    assert h == header
    assert (h.n, h.m) == (6, 3)
    assert h.state_labels[0] == "qpos:j0" and h.action_labels == ("act:a0", "act:a1", "act:a2")
    assert dataclasses.asdict(h) == dataclasses.asdict(header)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    plan=st.lists(
        st.tuples(st.integers(0, 2), st.booleans(), st.booleans()), min_size=1, max_size=40
    ),
    chunk=st.integers(1, 6),
)
def test_any_interleaving_round_trips(tmp_path_factory, plan, chunk):
    """Property: whatever the order of env steps, episode ends and flushes, every episode
    is returned contiguous, whole, with its own data; the recovery scan (index removed)
    finds the same episodes as the index."""
    header = synthetic_header(2, 1, 1)
    rng = np.random.default_rng(len(plan))
    pool = synthetic_steps(rng, len(plan), header)
    path = tmp_path_factory.mktemp("p") / "r.jwr"
    expected: dict[int, list[list[int]]] = {0: [[]], 1: [[]], 2: [[]]}
    with RecordingWriter(path, header, max_chunk_steps=chunk) as w:
        for i, (env, end, flush) in enumerate(plan):
            w.add(env, **{f: pool[f][i] for f in pool}, end_episode=end)
            expected[env][-1].append(i)
            if end:
                expected[env].append([])
            if flush:
                w.flush()
    with open_recording(path) as rec:
        assert rec.num_steps == len(plan)
        got = {0: [], 1: [], 2: []}
        for e in rec.episodes:
            s = rec.episode(e.index)
            assert np.array_equal(s.t, np.arange(e.length))
            idx = [int(np.flatnonzero(pool["reward"] == r)[0]) for r in s.reward]
            got[e.env_index].append((idx, e.complete))
        for env in expected:
            want = [(ids, j < len(expected[env]) - 1) for j, ids in enumerate(expected[env]) if ids]
            assert got[env] == want
        indexed = rec.episodes
    data = path.read_bytes()
    with open_recording(io.BytesIO(data[:-1])) as rec:  # no trailer: scan
        assert rec.truncated_tail is not None
        assert rec.episodes == indexed
