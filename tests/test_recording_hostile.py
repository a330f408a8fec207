"""Hostile recordings: crafted `.jwr` files whose checksums are all valid (recomputed by
tests/jwr_craft.py) with one field pushed to a hostile value. Each is opened and read in a
worker process under a memory cap and a timeout, and must end in a `RecordingError` that
names the file (and, for a `LimitError`, the limit) or in exactly the data of the file it
was crafted from: never another exception, a hang, or the memory cap (docs/FORMAT.md,
"Limits"). The random-damage tests are in tests/test_recording_corruption.py."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import select
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwr_craft as craft
import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic_recordings import synthetic_header, synthetic_steps

from jacwrap.recording import (
    ChecksumError,
    LimitError,
    RecordingError,
    RecordingWriter,
    open_recording,
)
from jacwrap.recording import format as fmt

#: Address space the worker may add to what it holds after its imports: far above what the
#: largest chunk the limits allow needs (a few times 64 MiB), far below what an unchecked
#: dimension or content size asks for (gigabytes).
MEMORY_CAP = 1 << 30
TIMEOUT_S = 60.0  # per file; a check takes milliseconds, the margin is for a loaded machine

WORKER = textwrap.dedent(
    r"""
    import json, resource, sys, traceback
    import numpy as np
    from jacwrap.recording import LimitError, RecordingError, open_recording
    from dataclasses import fields
    from jacwrap.recording.steps import Steps
    STEP_FIELDS = [f.name for f in fields(Steps)]

    def vm_size():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024

    cap = vm_size() + int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    def read_all(path):
        with open_recording(path) as rec:
            rec.verify()
            steps = rec.read(0, rec.num_steps)
            eps = [(e.index, e.env_index, e.start, e.length, e.ret, e.complete)
                   for e in rec.episodes]
            return steps, eps, rec.truncated_tail

    bases = {}

    def mismatch(got, base):
        steps, eps, tail = got
        bsteps, beps, _ = base
        k = len(steps)
        if tail is not None and "dropped" in tail:  # a chunk cut short: a prefix
            if k > len(bsteps) or len(eps) > len(beps):
                return f"longer than the file crafted from: {eps} vs {beps}"
            if eps:  # all but the last episode whole; the last one's start and env
                last, blast = eps[-1], beps[len(eps) - 1]
                if eps[:-1] != beps[: len(eps) - 1] or last[:3] != blast[:3] or last[3] > blast[3]:
                    return f"not a prefix: {eps} vs {beps}"
        elif k != len(bsteps) or eps != beps:
            return f"{k} steps, episodes {eps}; expected {len(bsteps)} steps, {beps}"
        for f in STEP_FIELDS:
            a, b = getattr(steps, f), getattr(bsteps, f)
            if a is None or b is None:
                if (a is None) != (b is None):
                    return f"field {f} present in one only"
                continue
            b = b[:k]
            if a.dtype != b.dtype or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                return f"field {f} differs"
        return None

    print("ready", flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if "alloc" in req:  # the cap itself, for its test
            try:
                out = {"outcome": "allocated", "bytes": len(bytearray(req["alloc"]))}
            except MemoryError:
                out = {"outcome": "crash", "type": "MemoryError"}
            print(json.dumps(out), flush=True)
            continue
        try:
            got = read_all(req["path"])
        except RecordingError as exc:
            out = {"outcome": "error", "type": type(exc).__name__, "message": str(exc),
                   "limit": str(exc.limit) if isinstance(exc, LimitError) else None}
        except BaseException as exc:
            out = {"outcome": "crash", "type": type(exc).__name__, "message": str(exc)[:500],
                   "traceback": traceback.format_exc()[-3000:]}
        else:
            out = {"outcome": "data", "mismatch": None}
            if req["exact"]:
                if req["base"] not in bases:
                    bases[req["base"]] = read_all(req["base"])
                out["mismatch"] = mismatch(got, bases[req["base"]])
        print(json.dumps(out), flush=True)
    """
)


class Worker:
    """A process that opens and reads files under ``MEMORY_CAP`` (restarted when it dies)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - the worker's, kept for reports

    def _start(self) -> None:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(MEMORY_CAP)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
        )
        assert self._line(300.0) == "ready", self._stderr()

    def _line(self, timeout: float) -> str | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().strip() if ready else None

    def _stderr(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-3000:]

    def check(self, path: Path, base: Path, exact: bool) -> dict:
        return self._ask({"path": str(path), "base": str(base), "exact": exact})

    def allocate(self, n: int) -> dict:
        return self._ask({"alloc": n})

    def _ask(self, req: dict) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self._line(TIMEOUT_S)
        if not line:
            hung = line is None
            self.close()
            if hung:
                return {"outcome": "hang", "message": f"no answer within {TIMEOUT_S} s"}
            return {"outcome": "died", "message": self._stderr()}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def _write(path: Path, header, episodes, chunk_steps: int) -> None:
    w = RecordingWriter(path, header, max_chunk_steps=chunk_steps)
    for ep in episodes:
        k = len(ep["reward"])
        for t in range(k):
            w.add(0, **{f: ep[f][t] for f in ep}, end_episode=t == k - 1)
    w.close()


class Base:
    """A valid file to craft from: its path, its parts, whether it has an index."""

    def __init__(self, path: Path, parts: craft.Parts, indexed: bool):
        self.path, self.parts, self.indexed = path, parts, indexed

    def __repr__(self) -> str:  # short, in Hypothesis' reports
        return f"Base({self.path.name})"


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Base]:
    """Valid files to craft from: float64 with an index, the same without (recovered by
    the scan), and float32 (zero masks stored) with an index."""
    d = tmp_path_factory.mktemp("bases")
    rng = np.random.default_rng(3)
    h64 = synthetic_header(3, 1, 2)
    eps64 = [synthetic_steps(rng, k, h64) for k in (7, 5, 4)]
    _write(d / "indexed.jwr", h64, eps64, 3)
    h32 = synthetic_header(4, 2, 3, jac_dtype="float32")
    eps32 = [synthetic_steps(rng, k, h32) for k in (4, 6)]
    _write(d / "float32.jwr", h32, eps32, 4)
    parts = craft.parse((d / "indexed.jwr").read_bytes())
    (d / "scan.jwr").write_bytes(craft.build(craft.without_index(parts)))
    out = {}
    for name, eps in (("indexed", eps64), ("scan", eps64), ("float32", eps32)):
        data = (d / f"{name}.jwr").read_bytes()
        p = craft.parse(data)
        assert craft.build(p) == data  # the helper reproduces the writer byte for byte
        with open_recording(d / f"{name}.jwr") as rec:  # the oracle's data is the written data
            got = rec.read(0, rec.num_steps)
        for f in ("obs", "reward", "state", "next_state"):
            assert np.array_equal(getattr(got, f), np.concatenate([e[f] for e in eps])), f
        out[name] = Base(d / f"{name}.jwr", p, name != "scan")
    return out


@pytest.fixture(scope="module")
def crafted_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("crafted")


# -- hostile values -------------------------------------------------------------------------------
LIMITS = (
    fmt.MAX_HEADER_LEN,
    fmt.MAX_STATE_DIM,
    fmt.MAX_ACTION_DIM,
    fmt.MAX_OBS_DIM,
    fmt.MAX_CHUNK_STEPS,
    fmt.MAX_CHUNK_RAW,
)


def ints(bits: int, *near: int, top: int | None = None) -> st.SearchStrategy[int]:
    """Integers of a ``bits``-wide field: edges of the width, the limits, ``near`` values,
    each +-1, and anything in range."""
    top = (1 << bits) - 1 if top is None else top
    edges = {0, 1, 2, 3, 255, 256, 65535, 65536, (1 << 31) - 1, 1 << 31, (1 << 32) - 1}
    edges |= {1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, top}
    edges |= {v + d for v in (*LIMITS, *near) for d in (-1, 0, 1)}
    values = sorted(e for e in edges if 0 <= e <= top)
    return st.one_of(st.sampled_from(values), st.integers(0, top))


FLOATS = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, 5e-324]), st.floats()
)
LITERALS = (
    "1e999", "-1e999", "NaN", "Infinity", "1" + "0" * 400, "9" * 5000, "-1", "true", "null",
    '"3"', "1.5", "[]", "{}", "0", "2", '"float16"', '""', "[1, 2]",
)  # fmt: skip


@dataclass
class Mutation:
    label: str
    apply: Callable[[craft.Parts], None]
    exact: bool = True  # the reader must return exactly the base file's data, or refuse


def _set_dims(p: craft.Parts, key: str, value: int) -> None:
    h = p.header
    h[key] = value
    if key in ("nq", "nv"):
        h["state_labels"] = [f"q{i}" for i in range(h["nq"])] + [f"v{i}" for i in range(h["nv"])]
    if key == "nu":
        h["action_labels"] = [f"a{i}" for i in range(value)]
    h["n"], h["m"] = h["nq"] + h["nv"], h["nu"]


def _implied_content_sizes(p: craft.Parts) -> None:
    """Every chunk's frame declares the size the (crafted) header implies."""
    for c in p.chunks:
        c.payload = craft.set_content_size(c.payload, craft.raw_size(p.header, c.n_steps))


@st.composite
def mutations(draw, base: Base) -> Mutation:
    p = base.parts
    kinds = [
        "prefix", "dim", "dim_alone", "literal", "pad", "nest", "chunk_head", "segment",
        "segment_table", "content_size", "bomb", "bomb_exact", "payload_edit", "chunk_list",
    ] + (["index", "chunk_entry", "episode_entry", "trailer"] if base.indexed else [])  # fmt: skip
    kind = draw(st.sampled_from(kinds))
    size = len(craft.build(p))
    j = draw(st.integers(0, len(p.chunks) - 1))
    chunk = p.chunks[j]
    implied = craft.raw_size(p.header, chunk.n_steps)

    if kind == "prefix":
        f = draw(st.sampled_from(["header_len", "version"]))
        v = draw(ints(32, len(craft.header_bytes(p.header)), size, 1))
        return Mutation(f"prefix {f} = {v}", lambda q: setattr(q, f, v))
    if kind in ("dim", "dim_alone"):
        keys = ["nq", "nv", "nu", "obs_dim"] + (["n", "m"] if kind == "dim_alone" else [])
        key = draw(st.sampled_from(keys))
        labelled = kind == "dim" and key != "obs_dim"
        v = draw(
            ints(64, 5000, top=300_000) if labelled else ints(64, 1 << 28) | st.integers(0, 1 << 80)
        )
        matching = kind == "dim" and draw(st.booleans())

        def dim(q):
            if kind == "dim":
                _set_dims(q, key, v)
            else:
                q.header[key] = v
            if matching:
                _implied_content_sizes(q)

        return Mutation(f"{kind} {key} = {v} (content sizes to match: {matching})", dim)
    if kind == "literal":
        key = draw(st.sampled_from(["threshold", "ctrl_dt", "seed", "format_version", "nq",
                                    "obs_dim", "n", "jac_dtype", "env_name", "state_labels",
                                    "codec", "versions", "extra", "created"]))  # fmt: skip
        text = draw(st.sampled_from(LITERALS))
        return Mutation(
            f"header {key} = {text[:20]}",
            lambda q: q.header.__setitem__(key, craft.Raw(text)),
            exact=False,  # e.g. another threshold: other zero masks, rightly
        )
    if kind == "pad":
        target = draw(ints(32, fmt.MAX_HEADER_LEN - 64, top=fmt.MAX_HEADER_LEN + 64))

        def pad(q):
            q.header["extra"]["pad"] = ""
            n = target - len(craft.header_bytes(q.header))
            q.header["extra"]["pad"] = "x" * max(0, n)

        return Mutation(f"header padded to {target} bytes", pad)
    if kind == "nest":
        depth = draw(st.sampled_from([10, 500, 990, 1000, 1010, 5000, 100_000]))
        raw = craft.Raw("[" * depth + "]" * depth)
        return Mutation(f"header nested {depth} deep", lambda q: q.header.__setitem__("x", raw))
    if kind == "chunk_head":
        f, bits = draw(st.sampled_from([("n_steps", 32), ("first_step", 64),
                                        ("n_segments", 32), ("payload_len", 32)]))  # fmt: skip
        v = draw(ints(bits, getattr(chunk, f) or 0, len(chunk.payload), len(chunk.segments), size))
        return Mutation(f"chunk {j} {f} = {v}", lambda q: setattr(q.chunks[j], f, v))
    if kind == "segment":
        r = draw(st.integers(0, len(chunk.segments) - 1))
        f, bits = draw(st.sampled_from([("episode", 64), ("env", 32), ("t0", 64),
                                        ("count", 32), ("ends", 8), ("ret", 0)]))  # fmt: skip
        old = chunk.segments[r][f]
        v = draw(FLOATS) if f == "ret" else draw(ints(bits, int(old), chunk.n_steps))

        def seg(q):
            q.chunks[j].segments[r][f] = v

        # without an index the segments are the only record of env, return and end
        exact = base.indexed or f not in ("env", "ret", "ends")
        return Mutation(f"chunk {j} segment {r} {f} = {v}", seg, exact)
    if kind == "segment_table":
        r = draw(st.integers(0, len(chunk.segments) - 1))
        op = draw(st.sampled_from(["insert empty", "duplicate", "delete", "clear"]))

        def table(q):
            s = q.chunks[j].segments
            if op == "insert empty":
                extra = s[r : r + 1].copy()
                extra["count"] = 0
                s = np.concatenate([s[:r], extra, s[r:]])
            elif op == "duplicate":
                s = np.concatenate([s[: r + 1], s[r:]])
            elif op == "delete":
                s = np.delete(s, r)
            else:
                s = s[:0]
            q.chunks[j].segments = s

        return Mutation(f"chunk {j} segment table: {op} {r}", table)
    if kind == "content_size":
        v = draw(st.none() | ints(64, implied, 1 << 40))
        return Mutation(
            f"chunk {j} frame content size = {v}",
            lambda q: setattr(q.chunks[j], "payload", craft.set_content_size(chunk.payload, v)),
        )
    if kind == "bomb":
        v = draw(ints(64, implied, 1 << 30, top=1 << 34).filter(lambda s: s != implied))
        return Mutation(
            f"chunk {j} payload = RLE frame of {v} bytes",
            lambda q: setattr(q.chunks[j], "payload", craft.rle_frame(v)),
        )
    if kind == "bomb_exact":  # a valid frame of the right size: other (garbage) content
        byte = draw(st.integers(0, 255))
        return Mutation(
            f"chunk {j} payload = {implied} bytes {byte:#x}",
            lambda q: setattr(q.chunks[j], "payload", craft.rle_frame(implied, byte)),
            exact=False,
        )
    if kind == "payload_edit":
        op = draw(st.sampled_from(["trailing bytes", "second frame", "skippable first",
                                   "cut", "empty"]))  # fmt: skip
        n = draw(st.integers(0, len(chunk.payload)))

        def edit(q):
            pl = chunk.payload
            q.chunks[j].payload = {
                "trailing bytes": pl + b"\0" * (n + 1),
                "second frame": pl + pl,
                "skippable first": craft.skippable_frame() + pl,
                "cut": pl[:n],
                "empty": b"",
            }[op]

        return Mutation(f"chunk {j} payload: {op} ({n})", edit)
    if kind == "chunk_list":
        op = draw(st.sampled_from(["drop", "duplicate"]))
        j = min(j, len(p.chunks) - 2)  # dropping the last chunk is a valid, shorter file

        def chunks(q):
            if op == "drop":
                del q.chunks[j]
            else:
                q.chunks.insert(j, q.chunks[j])

        return Mutation(f"{op} chunk {j}", chunks)
    if kind == "index":
        f, bits = draw(st.sampled_from([("n_chunks", 32), ("n_episodes", 32), ("reserved", 32),
                                        ("num_steps", 64)]))  # fmt: skip
        v = draw(ints(bits, len(p.chunks), len(p.index.episodes), 16))
        return Mutation(f"index {f} = {v}", lambda q: setattr(q.index, f, v))
    if kind == "chunk_entry":
        f = draw(st.sampled_from(craft.CHUNK_ENTRY.names))
        table = craft.chunk_table(p)
        v = draw(ints(64, *map(int, table[f]), size))

        def entry(q):
            t = craft.chunk_table(q)
            t[j][f] = v
            q.index.table = t

        return Mutation(f"index chunk {j} {f} = {v}", entry)
    if kind == "episode_entry":
        r = draw(st.integers(0, len(p.index.episodes) - 1))
        f, bits = draw(st.sampled_from([("env", 32), ("start", 64), ("length", 64),
                                        ("ret", 0), ("complete", 8)]))  # fmt: skip
        old = p.index.episodes[r][f]
        v = draw(FLOATS) if f == "ret" else draw(ints(bits, int(old), 16))

        def episode(q):
            q.index.episodes[r][f] = v

        return Mutation(f"index episode {r} {f} = {v}", episode)
    assert kind == "trailer"
    f, bits = draw(st.sampled_from([("index_offset", 64), ("index_len", 32)]))
    v = draw(ints(bits, size, size - 24))
    return Mutation(f"trailer {f} = {v}", lambda q: setattr(q.index, f, v))


def _craft(base: Base, mutation: Mutation, directory: Path) -> Path:
    parts = base.parts.copy()
    mutation.apply(parts)
    path = directory / "crafted.jwr"
    path.write_bytes(craft.build(parts))
    return path


def _check(worker: Worker, base: Base, mutation: Mutation, directory: Path) -> dict:
    """Open and read the crafted file in the worker; fail unless it refused it with a
    RecordingError naming the file (and the limit), or returned the base's exact data."""
    path = _craft(base, mutation, directory)
    out = worker.check(path, base.path, mutation.exact)
    assert out["outcome"] in ("error", "data"), (mutation.label, out)
    if out["outcome"] == "error":
        assert str(path) in out["message"], (mutation.label, out)
        if out["limit"] is not None:
            assert out["limit"] in out["message"], (mutation.label, out)
    else:
        assert out["mismatch"] is None, (mutation.label, out)
    return out


def _fuzz(worker, bases, crafted_dir, data) -> None:
    base = bases[data.draw(st.sampled_from(sorted(bases)), label="base")]
    mutation = data.draw(mutations(base), label="mutation")
    _check(worker, base, mutation, crafted_dir)


FUZZ = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)


@settings(max_examples=300, **FUZZ)
@given(data=st.data())
def test_hostile_fields_end_in_typed_errors_or_exact_data(worker, bases, crafted_dir, data):
    _fuzz(worker, bases, crafted_dir, data)


@pytest.mark.slow
@settings(max_examples=4000, **FUZZ)
@given(data=st.data())
def test_hostile_fields_many(worker, bases, crafted_dir, data):
    _fuzz(worker, bases, crafted_dir, data)


def test_the_memory_cap_stops_gigabytes_not_the_largest_chunk(worker):
    """The oracle itself: the worker cannot allocate 2 GiB, but can the ~5x 64 MiB that
    decoding the largest chunk the limits allow takes."""
    assert worker.allocate(2 << 30) == {"outcome": "crash", "type": "MemoryError"}
    assert worker.allocate(5 * fmt.MAX_CHUNK_RAW)["outcome"] == "allocated"


# -- the limits one by one ---------------------------------------------------------------------------
def _mutate(base: Base, apply: Callable[[craft.Parts], None], path: Path) -> Path:
    parts = base.parts.copy()
    apply(parts)
    path.write_bytes(craft.build(parts))
    return path


def _limit(worker, base, apply, path: Path) -> dict:
    out = worker.check(_mutate(base, apply, path), base.path, exact=True)
    assert out["outcome"] == "error" and out["type"] == "LimitError", out
    assert str(path) in out["message"] and out["limit"] in out["message"], out
    return out


def test_huge_dims_with_matching_content_sizes_are_refused_at_open(worker, bases, tmp_path):
    """The attack of issue #19: dims that imply gigabytes, and frames that declare exactly
    that size. Refused from the header alone, before any chunk is touched."""
    for key, value, limit in (
        ("obs_dim", 1 << 28, fmt.MAX_OBS_DIM),
        ("nq", 5000, fmt.MAX_STATE_DIM),
        ("nu", 2000, fmt.MAX_ACTION_DIM),
    ):

        def hostile(q, key=key, value=value):
            _set_dims(q, key, value)
            _implied_content_sizes(q)

        out = _limit(worker, bases["indexed"], hostile, tmp_path / f"{key}.jwr")
        assert "header" in out["message"] and str(limit) in out["limit"]


def test_dims_at_the_limits_are_checked_against_the_frame(worker, bases, tmp_path):
    """Dims at the limits pass the header check; the frames then do not match them."""

    def at_limits(q):
        _set_dims(q, "nq", fmt.MAX_STATE_DIM // 2)
        _set_dims(q, "nv", fmt.MAX_STATE_DIM // 2)
        _set_dims(q, "nu", fmt.MAX_ACTION_DIM)

    path = _mutate(bases["indexed"], at_limits, tmp_path / "big.jwr")
    out = worker.check(path, bases["indexed"].path, exact=True)
    assert out["outcome"] == "error" and out["type"] == "ChecksumError", out
    assert "content size" in out["message"]


def test_frame_content_size_must_equal_the_implied_size(bases, tmp_path):
    base = bases["indexed"]
    c = base.parts.chunks[2]
    implied = craft.raw_size(base.parts.header, c.n_steps)
    assert craft.content_size(c.payload) == implied  # the writer declares it
    for declared in (implied - 1, implied + 1, 16 << 20, None):

        def lie(q, declared=declared):
            q.chunks[2].payload = craft.set_content_size(c.payload, declared)

        path = _mutate(base, lie, tmp_path / "lie.jwr")
        with open_recording(path) as rec:
            rec.read(0, 6)  # chunks 0 and 1 are intact
            with pytest.raises(ChecksumError, match=r"chunk 2 .*content size") as ei:
                rec.read(6, 7)
        assert str(implied) in str(ei.value)


def test_a_decompression_bomb_is_refused_before_decompressing(worker, bases, tmp_path):
    """A 20-byte frame of RLE blocks that would decompress to 16 GiB (over the payload
    bound) and one of 16 MiB (under it, but not the implied size)."""
    big = craft.rle_frame(1 << 34)
    for name, what in (("indexed", "frame_len"), ("scan", "payload_len")):
        base = bases[name]
        assert len(big) > fmt.max_payload_len(craft.raw_size(base.parts.header, 3))
        apply = lambda q: setattr(q.chunks[0], "payload", big)  # noqa: E731
        out = _limit(worker, base, apply, tmp_path / name)
        assert re.search(rf"chunk 0\b[^:]*: {what} is", out["message"]), out
    small = craft.rle_frame(16 << 20)
    assert len(small) <= fmt.max_payload_len(craft.raw_size(base.parts.header, 3))
    path = _mutate(base, lambda q: setattr(q.chunks[0], "payload", small), tmp_path / "b")
    out = worker.check(path, base.path, exact=True)
    assert out["outcome"] == "error" and out["type"] == "ChecksumError", out
    assert "content size" in out["message"]


def test_chunk_head_limits(worker, bases, tmp_path):
    """Steps, segments and payload bytes per chunk: refused by the scan before it reads
    what they size; with an index, the index's chunk entry or the chunk on reading."""

    def set_head(f, v):
        return lambda q: setattr(q.chunks[1], f, v)

    def segments(n):  # n real segments (the head's checksum covers them) for 3 steps
        return lambda q: setattr(q.chunks[1], "segments", np.repeat(q.chunks[1].segments, n))

    cases = [
        ("scan", set_head("n_steps", fmt.MAX_CHUNK_STEPS + 1), "n_steps"),
        ("scan", set_head("n_segments", 4), "n_segments"),
        ("scan", set_head("n_segments", 0), "n_segments"),
        ("scan", set_head("payload_len", 1 << 31), "payload_len"),
        ("scan", set_head("payload_len", 3), "payload_len"),
        ("indexed", set_head("n_steps", fmt.MAX_CHUNK_STEPS + 1), "n_steps"),
        ("indexed", segments(4), "n_segments"),
        ("scan", segments(4), "n_segments"),
    ]
    for i, (name, apply, what) in enumerate(cases):
        out = _limit(worker, bases[name], apply, tmp_path / f"{i}.jwr")
        assert re.search(rf"chunk 1\b[^:]*: {what} is", out["message"]), (name, out)


def test_header_length_limit(worker, bases, tmp_path):
    base = bases["indexed"]
    out = _limit(
        worker, base, lambda q: setattr(q, "header_len", fmt.MAX_HEADER_LEN + 1), tmp_path / "a"
    )
    assert "header" in out["message"]

    def pad(q, total):
        q.header["extra"]["pad"] = ""
        q.header["extra"]["pad"] = "x" * (total - len(craft.header_bytes(q.header)))

    path = _mutate(base, lambda q: pad(q, fmt.MAX_HEADER_LEN), tmp_path / "b")
    assert worker.check(path, base.path, exact=True) == {"outcome": "data", "mismatch": None}
    _limit(worker, base, lambda q: pad(q, fmt.MAX_HEADER_LEN + 1), tmp_path / "c")


def test_more_chunks_than_the_file_can_hold(worker, bases, tmp_path):
    """An index listing more chunks than fit between the header and the index."""
    base = bases["indexed"]
    data_bytes = int(sum(craft.chunk_table(base.parts)["frame_len"]))
    n = data_bytes // fmt.MIN_FRAME_LEN + 1

    def many(q):
        t = np.zeros(n, craft.CHUNK_ENTRY)
        t["n_steps"] = 1
        q.index.table = t

    out = _limit(worker, base, many, tmp_path / "many.jwr")
    assert "index" in out["message"] and "n_chunks" in out["message"]


def test_hostile_header_numbers_are_typed_errors(bases, tmp_path):
    """Numbers Python's JSON cannot parse (over 4300 digits) or float() cannot convert."""
    for key, text in (
        ("nq", "9" * 5000),
        ("threshold", "1" + "0" * 400),
        ("ctrl_dt", "-" + "9" * 400),
    ):
        path = _mutate(
            bases["indexed"],
            lambda q, key=key, text=text: q.header.__setitem__(key, craft.Raw(text)),
            tmp_path / f"{key}.jwr",
        )
        with pytest.raises(RecordingError, match=str(path)):
            open_recording(path)


def test_index_must_agree_with_the_chunk_segments(bases, tmp_path):
    """With an index the episodes come from it; each chunk's segments must tell the same
    story (env, return, end), or the chunk is refused when read."""
    base = bases["indexed"]
    for f, v in (("env", 5), ("ret", 1.5), ("complete", 0)):
        path = _mutate(
            base, lambda q, f=f, v=v: q.index.episodes[0].__setitem__(f, v), tmp_path / f
        )
        with open_recording(path) as rec, pytest.raises(ChecksumError, match="episode 0"):
            rec.read(0, rec.num_steps)


# -- the writer refuses what the reader would refuse -------------------------------------------------
def test_writer_refuses_what_the_reader_refuses(tmp_path):
    cases = [
        (synthetic_header(fmt.MAX_STATE_DIM + 1, 1, 1), {}, "n"),
        (synthetic_header(2, fmt.MAX_ACTION_DIM + 1, 1), {}, "m"),
        (synthetic_header(2, 1, fmt.MAX_OBS_DIM + 1), {}, "obs_dim"),
        (synthetic_header(2, 1, 1, extra={"pad": "x" * fmt.MAX_HEADER_LEN}), {}, "header"),
        (synthetic_header(2, 1, 1), {"max_chunk_steps": fmt.MAX_CHUNK_STEPS + 1}, "steps"),
        (synthetic_header(2, 1, 1), {"chunk_bytes": fmt.MAX_CHUNK_RAW + 1}, "bytes"),
    ]
    for header, kw, what in cases:
        path = tmp_path / "refused.jwr"
        with pytest.raises(LimitError, match=what) as ei:
            RecordingWriter(path, header, **kw)
        assert str(path) in str(ei.value) and str(ei.value.limit) in str(ei.value)
        assert not path.exists()  # refused before the file is created


def test_writer_at_the_limits_is_read_back(tmp_path):
    """A chunk of exactly MAX_CHUNK_STEPS steps, and dims at their limits, are accepted."""
    header = synthetic_header(1, 0, 0)
    k = fmt.MAX_CHUNK_STEPS
    steps = synthetic_steps(np.random.default_rng(0), k, header)
    path = tmp_path / "long.jwr"
    with RecordingWriter(path, header, max_chunk_steps=k, chunk_bytes=fmt.MAX_CHUNK_RAW) as w:
        assert w.chunk_steps == k
        w.add_batch(**steps, env_indices=[0] * k, end_episode=np.arange(k) == k - 1)
    with open_recording(path) as rec:
        assert rec.chunk_ranges() == [(0, k)]
        assert np.array_equal(rec.read(0, k).jac_state, steps["jac_state"])
    big = synthetic_header(fmt.MAX_STATE_DIM, fmt.MAX_ACTION_DIM, fmt.MAX_OBS_DIM)
    with RecordingWriter(tmp_path / "big.jwr", big) as w:
        assert w.chunk_steps == 1  # one step is ~20 MiB
    with open_recording(tmp_path / "big.jwr") as rec:
        assert rec.header.n == fmt.MAX_STATE_DIM and rec.num_steps == 0


@pytest.mark.parametrize("level", [1, 3, 19])
def test_payload_bound_holds_for_incompressible_data(level):
    """The reader's payload limit is zstd's worst case: random bytes never exceed it."""
    rng = np.random.default_rng(level)
    cctx = zstandard.ZstdCompressor(level=level, write_content_size=True)
    for n in (33, 100, 1000, (128 << 10) - 1, 128 << 10, 1 << 20):
        raw = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert len(cctx.compress(raw)) <= fmt.max_payload_len(n)


# -- the replay app shows them on its error screen ----------------------------------------------------
def _run_async(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


@_run_async
async def test_replay_app_shows_limit_errors(bases, tmp_path):
    from tui.app import ReplayApp
    from tui.screens.error import ErrorScreen

    base = bases["indexed"]

    def huge(q):
        _set_dims(q, "obs_dim", 1 << 30)
        _implied_content_sizes(q)

    def segments(q):  # 5 segments for the chunk's 3 steps: found when it is read
        q.chunks[0].segments = np.repeat(q.chunks[0].segments, 5)

    for apply, title in ((huge, "Cannot open recording"), (segments, "Cannot read recording")):
        path = _mutate(base, apply, tmp_path / f"{apply.__name__}.jwr")
        with pytest.raises(LimitError) as ei, open_recording(path) as rec:
            rec.episode(0)
        app = ReplayApp(path)
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(500):
                await app.workers.wait_for_complete()
                await pilot.pause()
                if isinstance(app.screen, ErrorScreen):
                    break
            assert isinstance(app.screen, ErrorScreen)
            shown = str(app.screen.query_one("#error-title").render())
            message = str(app.screen.query_one("#error-message").render())
            assert shown == title
            assert message == str(ei.value) and str(ei.value.limit) in message
            await pilot.press("q")
