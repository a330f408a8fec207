"""`jacwrap export`: Parquet files and Minari datasets that hold every recorded value.

Round trips are bit for bit (float64 stays float64) against the reader's own arrays, on a
recording made by jacwrap's recorder (the committed demo) and on synthetic ones whose
episodes span chunks, with NaN Jacobians, an incomplete episode and float32 Jacobians. The
Parquet files are read by pyarrow, pandas, polars, DuckDB and Hugging Face `datasets`, and a
DuckDB query reproduces the analysis's per-element zero percentages.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from recordings_data import write_recording

from jacwrap.analysis.accumulators import stream_stats
from jacwrap.cli import main
from jacwrap.data import DataError, ExportExistsError, export_minari, export_parquet
from jacwrap.recording import open_recording

DEMO = "recordings/demo-CartpoleBalance.jwr"
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    d = tmp_path_factory.mktemp("recs")
    local_demo = d / "demo.jwr"
    shutil.copy(DEMO, local_demo)
    return {
        "demo": local_demo,
        "synthetic": write_recording(d / "synthetic.jwr", nan_every=5, incomplete_last=True),
        "shard2": write_recording(d / "shard2.jwr", episodes=(7, 3), seed=1),
        "float32": write_recording(d / "f32.jwr", jac_dtype="float32", seed=2),
        "reacher": write_recording(d / "reacher.jwr", env="ReacherHard", seed=3),
    }


def _all_steps(path):
    with open_recording(path) as rec:
        return rec.read(0, rec.num_steps), rec.header, rec.episodes


def _same(got, want, name):
    want = np.asarray(want)
    got = np.asarray(got)
    assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
    assert got.shape == want.shape, (name, got.shape, want.shape)
    assert np.array_equal(got, want, equal_nan=got.dtype.kind == "f"), name


def _column(table, name, shape):
    """A fixed-size-list column of a pyarrow table as a (rows, *shape) NumPy array."""
    col = table.column(name).combine_chunks()
    for _ in shape:
        col = col.flatten()
    return col.to_numpy(zero_copy_only=False).reshape(table.num_rows, *shape)


# -- Parquet -------------------------------------------------------------------------------------
def test_parquet_round_trip_is_bit_exact(tmp_path, recordings):
    names = ["demo", "synthetic", "float32"]
    result = export_parquet(
        [recordings[k] for k in names], tmp_path / "pq", show_progress=False,
        row_group_bytes=2000,
    )  # fmt: skip
    assert len(result.outputs) == 3 and result.steps == sum(
        len(_all_steps(recordings[k])[0]) for k in names
    )
    for key, out in zip(names, result.outputs, strict=True):
        steps, header, episodes = _all_steps(recordings[key])
        pf = pq.ParquetFile(out)
        assert pf.metadata.num_row_groups > 1 or key == "demo"
        table = pf.read()
        meta = table.schema.metadata
        assert json.loads(meta[b"jacwrap.header"]) == header.to_json_dict()
        export = json.loads(meta[b"jacwrap.export"])
        assert export["num_steps"] == len(steps) and export["source"] == str(recordings[key])
        assert export["incomplete_episodes"] == [e.index for e in episodes if not e.complete]
        n, m = header.n, header.m
        shapes = {"obs": (header.obs_dim,), "action": (m,), "state": (n,), "next_state": (n,),
                  "jac_state": (n, n), "jac_action": (n, m)}  # fmt: skip
        for name, shape in shapes.items():
            _same(_column(table, name, shape), getattr(steps, name), name)
        for name in ("reward", "terminated", "truncated"):
            _same(table.column(name).to_numpy(), getattr(steps, name), name)
        _same(table.column("jac_finite").to_numpy(), steps.finite, "finite")
        _same(table.column("episode").to_numpy(), steps.episode, "episode")
        _same(table.column("step").to_numpy(), steps.t, "step")
        _same(table.column("index").to_numpy(), np.arange(len(steps)), "index")
        env_of = np.array([e.env_index for e in episodes])
        _same(table.column("env_index").to_numpy(), env_of[steps.episode].astype(np.int32), "e")
        for i, kind in enumerate(("state", "action", "combined")):
            _same(table.column(f"sparsity_{kind}").to_numpy(), steps.sparsity[:, i], kind)
        assert set(table.column("env").to_pylist()) == {header.env_name}
        if header.jac_dtype == "float32":
            _same(_column(table, "zero_state", (n, n)), steps.zero_state, "zero_state")
            _same(_column(table, "zero_action", (n, m)), steps.zero_action, "zero_action")
        else:
            assert "zero_state" not in table.column_names


def test_duckdb_zero_percentages_equal_the_analysis(tmp_path, recordings):
    duckdb = pytest.importorskip("duckdb")
    files = [recordings["demo"], recordings["synthetic"]]
    export_parquet(files, tmp_path / "pq", show_progress=False)
    for f in files:
        steps, header, _ = _all_steps(f)
        stats = stream_stats(open_recording(f).iter_chunks(), header.n, header.m)
        n, m = header.n, header.m
        rows = duckdb.sql(f"""
            SELECT i, j, 100.0 * count(*) FILTER (WHERE abs(jac_state[i][j]) < 1e-12) / count(*)
            FROM read_parquet('{tmp_path}/pq/*/*/*.parquet'), range(1, {n + 1}) a(i),
                 range(1, {n + 1}) b(j)
            WHERE jac_finite AND recording = '{f.stem}'
            GROUP BY i, j ORDER BY i, j
        """).fetchall()  # fmt: skip
        pct = np.array([r[2] for r in rows]).reshape(n, n)
        np.testing.assert_allclose(pct, stats.zeros.zero_pct_state, rtol=1e-12)
        rows = duckdb.sql(f"""
            SELECT i, j, 100.0 * count(*) FILTER (WHERE abs(jac_action[i][j]) < 1e-12) / count(*)
            FROM read_parquet('{tmp_path}/pq/*/*/*.parquet'), range(1, {n + 1}) a(i),
                 range(1, {m + 1}) b(j)
            WHERE jac_finite AND recording = '{f.stem}'
            GROUP BY i, j ORDER BY i, j
        """).fetchall()  # fmt: skip
        pct = np.array([r[2] for r in rows]).reshape(n, m)
        np.testing.assert_allclose(pct, stats.zeros.zero_pct_action, rtol=1e-12)
        assert stats.zeros.nonfinite == int((~steps.finite).sum())
    assert stats.zeros.nonfinite > 0  # the synthetic file has NaN steps, excluded by both


def test_parquet_is_read_by_pandas_polars_and_hf_datasets(tmp_path, recordings):
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    datasets = pytest.importorskip("datasets")
    export_parquet([recordings["demo"], recordings["reacher"]], tmp_path / "pq",
                   show_progress=False)  # fmt: skip
    demo, h, _ = _all_steps(recordings["demo"])
    assert sorted(p.name for p in (tmp_path / "pq").iterdir()) == ["CartpoleBalance", "ReacherHard"]
    df = pd.read_parquet(tmp_path / "pq" / "CartpoleBalance")
    d = df[df.recording == "demo"].sort_values("index")
    _same(np.stack([np.stack(r) for r in d.jac_state]), demo.jac_state, "pandas jac_state")
    _same(d.reward.to_numpy(), demo.reward, "pandas reward")
    assert len(pd.read_parquet(tmp_path / "pq" / "ReacherHard").action[0]) == 2
    pf = pl.read_parquet(tmp_path / "pq" / "CartpoleBalance" / "demo" / "*.parquet")
    _same(pf["jac_action"].to_numpy(), demo.jac_action, "polars jac_action")
    _same(pf["state"].to_numpy(), demo.state, "polars state")
    hf = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "pq" / "CartpoleBalance" / "*" / "*.parquet"),
        split="train",
        cache_dir=str(tmp_path / "hf"),
    )  # fmt: skip
    assert "float64" in str(hf.features["jac_state"])
    _same(np.array(hf["next_state"]), demo.next_state, "datasets next_state")
    _same(np.array(hf["jac_state"]), demo.jac_state, "datasets jac_state")


def test_parquet_refuses_to_overwrite(tmp_path, recordings, capsys):
    out = tmp_path / "pq"
    argv = ["export", str(recordings["shard2"]), "--to", "parquet", str(out), "--quiet"]
    assert main(argv) == 0
    assert "exported 10 steps (2 episodes)" in capsys.readouterr().out
    part = out / "CartpoleBalance" / "shard2" / "part-00000.parquet"
    before = part.stat().st_mtime_ns
    with pytest.raises(ExportExistsError, match="--overwrite"):
        export_parquet([recordings["shard2"]], out, show_progress=False)
    assert main(argv) == 2
    assert "already exported" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert part.stat().st_mtime_ns != before
    assert [p.name for p in part.parent.iterdir()] == ["part-00000.parquet"]


# -- Minari ---------------------------------------------------------------------------------------
@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    pytest.importorskip("minari")
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def _check_minari_episode(ep, steps, header):
    """One Minari episode against the recording's steps of that episode."""
    t = len(steps)
    assert len(ep) == t
    _same(ep.observations[:-1], steps.obs, "observations")
    assert np.isnan(ep.observations[-1]).all()  # the final observation is not recorded
    _same(ep.actions, steps.action, "actions")
    _same(ep.rewards, steps.reward, "rewards")
    _same(ep.terminations, steps.terminated, "terminations")
    _same(ep.truncations, steps.truncated, "truncations")
    info = ep.infos
    for name, attr in (("state", "state"), ("next_state", "next_state"),
                       ("jac_state", "jac_state"), ("jac_action", "jac_action"),
                       ("jac_finite", "finite"), ("sparsity", "sparsity")):  # fmt: skip
        assert len(info[name]) == t + 1, name
        _same(info[name][1:], getattr(steps, attr), name)
    _same(info["state"][0], steps.state[0], "reset state")
    assert np.isnan(info["jac_state"][0]).all() and not info["jac_finite"][0]
    if header.jac_dtype == "float32":
        _same(info["zero_state"][1:], steps.zero_state, "zero_state")


def test_minari_round_trip_is_bit_exact(minari_root, recordings):
    import minari

    files = [recordings["demo"], recordings["float32"]]
    with pytest.raises(DataError, match="jac_dtype 'float32'.*cannot|cannot.*jac_dtype"):
        export_minari(files, "jacwrap/CartpoleBalance/mixed-v0", show_progress=False)
    assert not minari_root.exists() or not any(minari_root.rglob("mixed-v0"))
    files = [recordings["synthetic"], recordings["shard2"]]  # two shards of one env
    result = export_minari(files, "jacwrap/CartpoleBalance/test-v0", show_progress=False,
                           author="tester")  # fmt: skip
    assert result.outputs == ("jacwrap/CartpoleBalance/test-v0",)
    assert (minari_root / "jacwrap" / "CartpoleBalance" / "test-v0").is_dir()
    ds = minari.load_dataset("jacwrap/CartpoleBalance/test-v0")
    recs = [_all_steps(f) for f in files]
    assert ds.total_episodes == sum(len(r[2]) for r in recs) == result.episodes
    assert ds.total_steps == sum(len(r[0]) for r in recs)
    assert ds.env_spec.id == "jacwrap/CartpoleBalance-v0"
    assert ds.env_spec.kwargs == {"name": "CartpoleBalance", "episode_length": 50}
    assert ds.action_space.dtype == np.float64
    meta = ds.storage.metadata
    assert [r["header"] for r in meta["jacwrap"]["recordings"]] == [
        r[1].to_json_dict() for r in recs
    ]
    assert meta["author"] == {"tester"}
    episodes = list(ds.iterate_episodes())
    ep_meta = list(ds.storage.get_episode_metadata(range(ds.total_episodes)))
    k = 0
    for f, (steps, header, infos) in enumerate(recs):
        for e in infos:
            _check_minari_episode(episodes[k], steps[e.start : e.stop], header)
            assert ep_meta[k]["jacwrap"]["recording"] == f
            assert ep_meta[k]["jacwrap"]["episode"] == e.index
            assert ep_meta[k]["jacwrap"]["complete"] == e.complete
            k += 1
    assert not ep_meta[len(recs[0][2]) - 1]["jacwrap"]["complete"]  # the incomplete episode


def test_minari_real_recording_float32_and_several_envs(minari_root, recordings, capsys):
    import minari

    assert main(["export", str(recordings["demo"]), "--to", "minari", "--dataset-id",
                 "jacwrap/CartpoleBalance/demo-v0", "--quiet"]) == 0  # fmt: skip
    ds = minari.load_dataset("jacwrap/CartpoleBalance/demo-v0")
    steps, header, infos = _all_steps(recordings["demo"])
    for ep, e in zip(ds, infos, strict=True):
        _check_minari_episode(ep, steps[e.start : e.stop], header)
    argv = ["export", str(recordings["demo"]), "--to", "minari", "--dataset-id",
            "jacwrap/CartpoleBalance/demo-v0", "--quiet"]  # fmt: skip
    assert main(argv) == 2 and "exist already" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0

    export_minari([recordings["float32"]], "f32-v0", show_progress=False)
    steps, header, infos = _all_steps(recordings["float32"])
    for ep, e in zip(minari.load_dataset("f32-v0"), infos, strict=True):
        _check_minari_episode(ep, steps[e.start : e.stop], header)

    files = [recordings["shard2"], recordings["reacher"]]
    with pytest.raises(DataError, match="{env}"):
        export_minari(files, "jacwrap/both-v0", show_progress=False)
    result = export_minari(files, "jacwrap/{env}/mix-v0", show_progress=False)
    assert result.outputs == ("jacwrap/CartpoleBalance/mix-v0", "jacwrap/ReacherHard/mix-v0")
    reacher = minari.load_dataset("jacwrap/ReacherHard/mix-v0")
    assert reacher.action_space.shape == (2,) and reacher.total_episodes == 4
