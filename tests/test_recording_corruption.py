"""Damaged recordings: truncation, byte flips, wrong magic, future versions, a killed
writer, random bytes. Each gives its typed error or recovers exactly the intact data;
no other exception and never wrong data."""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic_recordings import synthetic_header, synthetic_steps

from jacwrap.recording import (
    ChecksumError,
    NotARecordingError,
    RecordingError,
    RecordingNotFoundError,
    RecordingWriter,
    TruncatedError,
    UnsupportedVersionError,
    open_recording,
)

PREFIX_LEN = 20
TRAILER_LEN = 24


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A small recording: 3 episodes (7, 5, 4 steps) in chunks of 3 steps."""
    header = synthetic_header(3, 1, 2)
    rng = np.random.default_rng(1)
    eps = [synthetic_steps(rng, k, header) for k in (7, 5, 4)]
    path = tmp_path_factory.mktemp("c") / "sample.jwr"
    with RecordingWriter(path, header, max_chunk_steps=3) as w:
        for ep in eps:
            k = len(ep["reward"])
            for t in range(k):
                w.add(0, **{f: ep[f][t] for f in ep}, end_episode=t == k - 1)
    data = path.read_bytes()
    header_len = struct.unpack_from("<I", data, 12)[0]
    data_start = PREFIX_LEN + header_len + 4
    with open_recording(path) as rec:
        frames = [(rec._offsets[j], rec._frame_len[j]) for j in range(rec.num_chunks)]
        ranges = rec.chunk_ranges()
        full = rec.read(0, rec.num_steps)
    return {
        "data": data,
        "data_start": data_start,
        "frames": [(int(o), int(n)) for o, n in frames],
        "ranges": ranges,
        "full": full,
        "episodes": eps,
    }


def _mem(data: bytes, name: str = "mem.jwr") -> io.BytesIO:
    """An in-memory file (the reader accepts binary file objects; no disk I/O)."""
    buf = io.BytesIO(data)
    buf.name = name
    return buf


def _write(tmp_path, data: bytes, name="x.jwr") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _read_all(path):
    with open_recording(path) as rec:
        return rec, rec.read(0, rec.num_steps)


def _assert_prefix(steps, full):
    k = len(steps)
    for f in (
        "obs",
        "reward",
        "state",
        "next_state",
        "jac_state",
        "jac_action",
        "sparsity",
        "episode",
        "t",
    ):
        assert np.array_equal(getattr(steps, f), getattr(full, f)[:k], equal_nan=True), f


def test_wrong_magic_and_not_a_file(tmp_path, sample):
    with pytest.raises(NotARecordingError, match="magic"):
        open_recording(_write(tmp_path, b"PK\x03\x04" + sample["data"][4:]))
    with pytest.raises(NotARecordingError, match="magic"):
        open_recording(_write(tmp_path, b"hello, world\n" * 10))
    with pytest.raises(NotARecordingError, match="empty"):
        open_recording(_write(tmp_path, b""))
    with pytest.raises(NotARecordingError, match="directory"):
        open_recording(tmp_path)
    with pytest.raises(RecordingNotFoundError, match="no such file") as ei:
        open_recording(tmp_path / "missing.jwr")
    assert isinstance(ei.value, FileNotFoundError)


def test_future_version(tmp_path, sample):
    data = bytearray(sample["data"])
    struct.pack_into("<I", data, 8, 3)  # the current version is 2
    struct.pack_into("<I", data, 16, zlib.crc32(bytes(data[:16])))
    path = _write(tmp_path, bytes(data))
    with pytest.raises(UnsupportedVersionError, match=r"version 3 \(a newer jacwrap\)") as ei:
        open_recording(path)
    assert str(path) in str(ei.value)


def test_truncation_at_every_chunk_boundary(tmp_path, sample):
    full, frames = sample["full"], sample["frames"]
    boundaries = [sample["data_start"]] + [o + n for o, n in frames]
    for j, cut in enumerate(boundaries):
        for extra in (0, 1, 31, 40):  # at the boundary, and inside the next frame
            end = cut + extra
            if j == len(boundaries) - 1 and extra:
                end = cut + min(extra, len(sample["data"]) - cut - 1)  # inside index/trailer
            path = _write(tmp_path, sample["data"][:end])
            rec, steps = _read_all(path)
            assert rec.truncated_tail is not None and "no index" in rec.truncated_tail
            assert rec.num_steps == sum(b - a for a, b in sample["ranges"][:j])
            _assert_prefix(steps, full)
            assert all(e.complete for e in rec.episodes[:-1])
            with pytest.raises(TruncatedError, match=str(path)):
                open_recording(path, allow_truncated=False)


def test_truncated_last_episode_is_incomplete(tmp_path, sample):
    # chunks of 3 over episodes of 7, 5, 4: cut after 3 chunks = 9 steps (ep 1 has 2 steps)
    o, n = sample["frames"][2]
    rec, steps = _read_all(_write(tmp_path, sample["data"][: o + n]))
    assert [(e.start, e.length, e.complete) for e in rec.episodes] == [
        (0, 7, True),
        (7, 2, False),
    ]
    assert rec.episodes[0].ret == pytest.approx(sample["episodes"][0]["reward"].sum())
    assert "2 episodes, 1 incomplete" in rec.truncated_tail


def test_truncation_inside_header(tmp_path, sample):
    for end in (3, 12, PREFIX_LEN, PREFIX_LEN + 10, sample["data_start"] - 1):
        with pytest.raises(TruncatedError, match="truncated"):
            open_recording(_write(tmp_path, sample["data"][:end]))


def test_every_truncation_is_safe(sample):
    """Cut the file at every byte: a typed error or an exact prefix of the data."""
    data = sample["data"]
    for end in range(1, len(data)):
        path = _mem(data[:end])
        try:
            _, steps = _read_all(path)
        except RecordingError:
            assert end < sample["data_start"]
            continue
        _assert_prefix(steps, sample["full"])


def test_every_byte_flip_is_detected(sample):
    """Flip each byte: opening, verifying or reading raises a RecordingError (every byte of
    the file is under a checksum), of the kind the damaged part calls for."""
    data = sample["data"]
    for pos in range(len(data)):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        path = _mem(bytes(bad), f"flip{pos}.jwr")
        with pytest.raises(RecordingError) as ei, open_recording(path) as rec:
            rec.verify()
        err = ei.value
        if pos < 8:
            assert isinstance(err, NotARecordingError), pos
        else:
            assert isinstance(err, ChecksumError), (pos, err)
        assert f"flip{pos}.jwr" in str(err)


def test_flip_in_chunk_names_the_chunk(tmp_path, sample):
    o, n = sample["frames"][2]
    bad = bytearray(sample["data"])
    bad[o + n - 5] ^= 0xFF  # inside chunk 2's payload
    path = _write(tmp_path, bytes(bad))
    with open_recording(path) as rec:
        assert np.array_equal(rec.read(0, 6).reward, sample["full"].reward[:6])  # chunks 0, 1
        with pytest.raises(ChecksumError, match=r"chunk 2 \(steps 6\.\.8\) at byte offset"):
            rec.read(6, 7)
        with pytest.raises(ChecksumError, match="chunk 2"):
            list(rec.iter_chunks())


def test_flip_in_header_json(tmp_path, sample):
    bad = bytearray(sample["data"])
    bad[PREFIX_LEN + 5] ^= 0x01
    with pytest.raises(ChecksumError, match="header"):
        open_recording(_write(tmp_path, bytes(bad)))


def test_flip_without_index_is_detected_by_scan(tmp_path, sample):
    """Without the index, the scan checks each chunk head; payloads on reading."""
    end = sample["frames"][-1][0] + sample["frames"][-1][1]
    o, _ = sample["frames"][1]
    for pos, match in ((o + 10, "head of chunk 1"), (o + 60, "chunk 1")):
        bad = bytearray(sample["data"][:end])
        bad[pos] ^= 0x10
        path = _write(tmp_path, bytes(bad))
        with pytest.raises(ChecksumError, match=match), open_recording(path) as rec:
            rec.verify()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(blob=st.binary(max_size=600), prefix=st.sampled_from([b"", b"magic", b"valid"]))
def test_fuzz_random_bytes(sample, blob, prefix):
    """Random bytes, alone, after the magic, or after a valid prefix+header: only
    RecordingError (or a recovered recording) comes out."""
    data = sample["data"]
    head = {b"": b"", b"magic": data[:8], b"valid": data[: sample["data_start"]]}[prefix]
    path = _mem(head + blob)
    try:
        with open_recording(path) as rec:
            rec.verify()
            rec.read(0, rec.num_steps)
            _ = [rec.episode(i) for i in range(rec.num_episodes)]
    except RecordingError:
        pass


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 10**6),
)
def test_fuzz_mutated_recordings(sample, edits, cut):
    """A valid recording with random byte edits and a random cut: typed errors only, and
    whatever is returned equals the original data."""
    data = bytearray(sample["data"])
    for pos, value in edits:
        data[pos % len(data)] = value
    data = bytes(data[: len(data) - cut % 200])
    path = _mem(data)
    try:
        with open_recording(path) as rec:
            steps = rec.read(0, rec.num_steps)
    except RecordingError:
        return
    _assert_prefix(steps, sample["full"])


CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from jacwrap.recording import RecordingWriter
    sys.path.insert(0, sys.argv[2])  # tests/, for the fixture module
    from synthetic_recordings import synthetic_header, synthetic_steps

    header = synthetic_header(3, 1, 2)
    data = synthetic_steps(np.random.default_rng(5), 23, header)
    w = RecordingWriter(sys.argv[1], header, max_chunk_steps=5)
    for t in range(23):  # episode 0: steps 0..8; episode 1 runs from step 9 on
        w.add(0, **{f: v[t] for f, v in data.items()}, end_episode=t == 8)
    print("ready", flush=True)
    time.sleep(60)
    """
)


def test_sigkill_mid_episode_keeps_completed_chunks(tmp_path):
    path = tmp_path / "killed.jwr"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    header = synthetic_header(3, 1, 2)
    want = synthetic_steps(np.random.default_rng(5), 23, header)
    with open_recording(path) as rec:
        # 23 steps in chunks of 5: 4 chunks (20 steps) written, 3 steps lost with the process
        assert rec.num_steps == 20
        assert "no index" in rec.truncated_tail
        assert [(e.start, e.length, e.complete) for e in rec.episodes] == [
            (0, 9, True),
            (9, 11, False),
        ]
        steps = rec.read(0, 20)
        for f in ("obs", "reward", "state", "jac_state", "jac_action", "sparsity"):
            assert np.array_equal(getattr(steps, f), want[f][:20], equal_nan=True), f
    with pytest.raises(TruncatedError, match="no index"):
        open_recording(path, allow_truncated=False)
