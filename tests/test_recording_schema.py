"""The step schema: it describes the committed recordings exactly, and version 1 files read
identically after the schema-driven rewrite of the codec, writer and reader."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from jacwrap import schema
from jacwrap.recording import RecordingWriter, open_recording
from jacwrap.recording.codec import codec_description
from jacwrap.recording.header import RecordingHeader
from jacwrap.recording.steps import Steps

ROOT = Path(__file__).resolve().parent
DEMO = ROOT.parent / "recordings" / "demo-CartpoleBalance.jwr"
V1 = ROOT / "data" / "v1"
#: Version 1 files written by the code before the schema, with their steps decoded then.
V1_FILES = [
    (DEMO, V1 / "demo-CartpoleBalance.steps.npz"),
    (V1 / "cartpole-f32.jwr", V1 / "cartpole-f32.steps.npz"),
]


def test_schema_blocks_are_the_committed_recordings_columns():
    """The header of a file written before the schema names the same blocks and transforms."""
    for path, _ in V1_FILES:
        with open_recording(path) as rec:
            h = rec.header
            assert h.format_version == 1 and h.contact_pairs is None
            stored = rec.codec["columns"]
            assert stored == codec_description(h.blocks, 1)["columns"]
            names = [b.name for b in schema.blocks_of(h.jac_dtype, ("core",))]
            assert names == [c["name"] for c in stored]


@pytest.mark.parametrize(("path", "expected"), V1_FILES, ids=["float64", "float32"])
def test_version1_recording_reads_as_it_did(path, expected):
    """Every field of every step, and the episode table, equal what the old reader decoded."""
    old = np.load(expected)
    with open_recording(path) as rec:
        steps = rec.read(0, rec.num_steps)
        eps = [[e.env_index, e.start, e.length, e.ret, e.complete] for e in rec.episodes]
    assert np.array_equal(np.array(eps), old["episodes"])
    assert not steps.has_contacts and steps.contacts is None
    for name in old.files:
        if name != "episodes":
            got, want = getattr(steps, name), old[name]
            assert got.dtype == want.dtype, name
            assert np.array_equal(got, want, equal_nan=True), name


@pytest.mark.parametrize(("path", "expected"), V1_FILES, ids=["float64", "float32"])
def test_version1_recording_rewritten_reads_identically(tmp_path, path, expected):
    """Its steps written again (as version 2) read back bit for bit."""
    out = tmp_path / "again.jwr"
    with open_recording(path) as rec:
        eps = [(e, rec.episode(e.index)) for e in rec.episodes]
        with RecordingWriter(out, rec.header) as w:
            for e, s in eps:
                w.add_batch(
                    **{name: getattr(s, name) for name in w.fields},
                    env_indices=np.full(len(s.reward), e.env_index),
                    end_episode=np.arange(len(s)) == len(s) - 1 if e.complete else None,
                )
                if not e.complete:
                    w.end_episode(e.env_index)
    with open_recording(out) as again:
        assert again.header.format_version == 2
        assert [e.length for e in again.episodes] == [e.length for e, _ in eps]
        for (_, s), e in zip(eps, again.episodes, strict=True):
            t = again.episode(e.index)
            for f in dataclasses.fields(Steps):
                a, b = getattr(s, f.name), getattr(t, f.name)
                assert (a is None and b is None) or np.array_equal(a, b, equal_nan=True), f


def test_every_field_is_a_steps_field_with_its_shape():
    with open_recording(DEMO) as rec:
        h = rec.header
        s = rec.episode(0)
    for name, (shape, dtype) in schema.writer_layout(h.dims, h.groups).items():
        value = getattr(s, name)
        assert value.shape[1:] == shape, name
        assert value.dtype.kind == np.dtype(dtype).kind, name
    assert [f.name for f in dataclasses.fields(Steps)] == [f.name for f in schema.FIELDS]


def _contact_header(jac_dtype: str, pairs: tuple[str, ...]) -> RecordingHeader:
    return RecordingHeader(
        env_name="Toy",
        nq=1,
        nv=1,
        nu=1,
        obs_dim=2,
        state_labels=("q", "v"),
        action_labels=("u",),
        threshold=1e-12,
        jac_dtype=jac_dtype,
        contact_pairs=pairs,
    )


@pytest.mark.parametrize("jac_dtype", ["float64", "float32"])
def test_contact_columns_round_trip(tmp_path, jac_dtype):
    """A version 2 recording with contacts: masks of 11 pairs (two bytes, padding bits) and
    counts round-trip exactly; the pair labels are in the header."""
    pairs = tuple(f"floor:g{i}" for i in range(11))
    rng = np.random.default_rng(0)
    k = 37
    data = {
        "obs": rng.normal(size=(k, 2)).astype(np.float32),
        "action": rng.normal(size=(k, 1)),
        "reward": rng.normal(size=k),
        "terminated": np.zeros(k, bool),
        "truncated": np.arange(k) == k - 1,
        "state": rng.normal(size=(k, 2)),
        "next_state": rng.normal(size=(k, 2)),
        "jac_state": rng.normal(size=(k, 2, 2)),
        "jac_action": rng.normal(size=(k, 2, 1)),
        "contacts": rng.random((k, 11)) < 0.3,
        "contacts_start": rng.random((k, 11)) < 0.2,
        "n_contacts": rng.integers(0, 40, k).astype(np.int32),
        "n_constraints": rng.integers(0, 400, k).astype(np.int32),
    }
    path = tmp_path / "c.jwr"
    with RecordingWriter(path, _contact_header(jac_dtype, pairs), max_chunk_steps=8) as w:
        w.add_batch(**data, env_indices=[0] * k)  # k steps of env 0
    with open_recording(path) as rec:
        assert rec.header.contact_pairs == pairs
        assert rec.header.groups == ("core", "contacts")
        s = rec.read(0, rec.num_steps)
        assert s.has_contacts
        for name in ("contacts", "contacts_start", "n_contacts", "n_constraints"):
            assert np.array_equal(getattr(s, name), data[name]), name
            assert getattr(s, name).dtype == schema.FIELD_BY_NAME[name].dtype
        assert rec.read(3, 3).contacts.shape == (0, 11)


def test_writer_names_missing_and_unknown_fields(tmp_path):
    h = _contact_header("float64", ("a:b",))
    with RecordingWriter(tmp_path / "x.jwr", h) as w:
        with pytest.raises(TypeError, match=r"missing field\(s\) \['contacts'") as err:
            w.add(
                obs=np.zeros(2),
                action=np.zeros(1),
                reward=0.0,
                terminated=False,
                truncated=False,
                state=np.zeros(2),
                next_state=np.zeros(2),
                jac_state=np.zeros((2, 2)),
                jac_action=np.zeros((2, 1)),
                bogus=1,
            )
        assert "unknown field(s) ['bogus']" in str(err.value)
