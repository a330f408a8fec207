"""The step schema: it describes the committed recordings exactly, and the producers' fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jacwrap.recording import RecordingWriter, open_recording, schema
from jacwrap.recording.codec import codec_description
from jacwrap.recording.steps import Steps

DEMO = Path(__file__).resolve().parent.parent / "recordings" / "demo-CartpoleBalance.jwr"


def test_schema_columns_are_the_committed_recordings_columns():
    """The header of a file written before the schema names the same columns and transforms."""
    with open_recording(DEMO) as rec:
        h = rec.header
        stored = rec.codec["columns"]
        assert stored == codec_description(h.jac_dtype, rec.codec["level"])["columns"]
        dims = schema.Dims(h.n, h.m, h.obs_dim)
        names = [name for name, _, _ in schema.column_specs(dims, h.jac_dtype)]
        assert names == [c["name"] for c in stored]


def test_committed_recording_rewritten_reads_identically(tmp_path):
    """Its steps written again by the schema-driven writer read back bit for bit."""
    out = tmp_path / "again.jwr"
    with open_recording(DEMO) as rec:
        eps = [(e, rec.episode(e.index)) for e in rec.episodes]
        with RecordingWriter(out, rec.header) as w:
            for e, s in eps:
                w.add_batch(
                    **{f.name: getattr(s, f.name) for f in schema.FIELDS},
                    env_indices=np.full(len(s.reward), e.env_index),
                )
                if not e.complete:
                    w.end_episode(e.env_index)
    with open_recording(out) as again:
        assert [e.length for e in again.episodes] == [e.length for e, _ in eps]
        for (_, s), e in zip(eps, again.episodes, strict=True):
            t = again.episode(e.index)
            for name in Steps.__dataclass_fields__:
                assert np.array_equal(getattr(s, name), getattr(t, name), equal_nan=True), name


def test_every_field_is_a_steps_field_with_its_shape():
    with open_recording(DEMO) as rec:
        h = rec.header
        s = rec.episode(0)
    layout = schema.field_layout(schema.Dims(h.n, h.m, h.obs_dim))
    for name, (shape, dtype) in layout.items():
        value = getattr(s, name)
        assert value.shape[1:] == shape, name
        assert value.dtype.kind == np.dtype(dtype).kind, name
