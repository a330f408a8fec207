"""Recording format benchmark on CheetahRun-shaped data (n = 18, m = 6), float64 and float32.

1. Real data: ``--envs`` x ``--real-steps`` CheetahRun steps of a uniform random policy,
   recorded once through ``jacwrap.make_vec`` (cached in ~/.cache/jacwrap/bench; the
   Jacobian step rate of that batch, B / median time of a step, is measured at the same
   time, compile excluded).
   Compression is measured on these real steps, written the way ``record_rollouts`` writes
   them (one batch of envs per call): bytes/step, ratio against the raw arrays and against
   ``numpy.savez_compressed`` of the same arrays, and the Jacobian columns alone.
2. A ``--steps`` (100k) step file made by tiling the real trajectories, each copy's float
   fields multiplied by (1 + 1e-6 N(0, 1)) (exact zeros stay zero, so the sparsity pattern
   is the real one, while the low mantissa bits are fresh noise as in real data; states are
   rebuilt so that state[t + 1] == next_state[t] within an episode). On it: write speed
   (writer calls only, data generation excluded), then the time to open the file and read one
   random step in a fresh ``open_recording`` (median and max over 30 steps; page cache warm),
   a read from another chunk of an open file, and opening without the index (recovery scan).

    python -m bench.bench_recording [--steps 100000] [--markdown]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np

FIELDS = (
    "obs",
    "action",
    "reward",
    "terminated",
    "truncated",
    "state",
    "next_state",
    "jac_state",
    "jac_action",
    "sparsity",
    "finite",
)
ENV = "CheetahRun"


def record_real(num_envs: int, steps: int, fresh: bool) -> tuple[dict[str, np.ndarray], float]:
    """(arrays with leading axes (num_envs, steps), Jacobian steps/s of the batch)."""
    cache = Path.home() / ".cache" / "jacwrap" / "bench" / f"cheetah_B{num_envs}_T{steps}.npz"
    if cache.exists() and not fresh:
        z = np.load(cache)
        return {f: z[f] for f in FIELDS}, float(z["jac_steps_per_s"])
    import jacwrap
    from jacwrap.sparsity import SPARSITY_KINDS

    venv = jacwrap.make_vec(ENV, num_envs)
    obs, _ = venv.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(3):  # compile (or cache hit) and warm up
        venv.step(rng.uniform(-1, 1, (num_envs, 6)))
    obs, _ = venv.reset(seed=0)
    cols = {f: [] for f in FIELDS}
    times = []
    for _ in range(steps):
        a = rng.uniform(-1, 1, (num_envs, 6))
        t0 = time.perf_counter()
        nobs, r, term, trunc, info = venv.step(a)
        times.append(time.perf_counter() - t0)
        for f, v in (
            ("obs", obs),
            ("action", a),
            ("reward", r),
            ("terminated", term),
            ("truncated", trunc),
            ("state", info["state"]),
            ("next_state", info["next_state"]),
            ("jac_state", info["jac_state"]),
            ("jac_action", info["jac_action"]),
            ("finite", info["jac_finite"]),
        ):
            cols[f].append(np.array(v))
        cols["sparsity"].append(np.stack([info["sparsity"][k] for k in SPARSITY_KINDS], -1))
        obs = nobs
    rate = num_envs / float(np.median(times))  # median: robust to a shared machine's spikes
    data = {f: np.swapaxes(np.stack(v), 0, 1) for f, v in cols.items()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, jac_steps_per_s=rate, **data)
    return data, rate


def header_for(data, jac_dtype):
    from tests.synthetic_recordings import synthetic_header

    return synthetic_header(18, 6, data["obs"].shape[-1], jac_dtype=jac_dtype, env_name=ENV)


def write(path: Path, data: dict[str, np.ndarray], jac_dtype: str, writer=None) -> float:
    """Write (B, T, ...) arrays step by step as one batch per call; seconds in writer calls."""
    from jacwrap.recording import RecordingWriter

    b, t = data["reward"].shape
    own = writer is None
    if own:
        writer = RecordingWriter(path, header_for(data, jac_dtype), overwrite=True)
    ends = np.zeros(b, bool)
    t0 = time.perf_counter()
    for k in range(t):
        ends[:] = k == t - 1
        writer.add_batch(**{f: data[f][:, k] for f in FIELDS}, end_episode=ends)
    if own:
        writer.close()
    return time.perf_counter() - t0


def raw_bytes(data) -> int:
    return sum(data[f].nbytes for f in FIELDS)


def savez_bytes(data) -> int:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{f: data[f] for f in FIELDS})
    return len(buf.getvalue())


def jacobian_only_bytes(data, jac_dtype: str, chunk: int, level: int) -> int:
    """Compressed size of the Jacobian columns alone (same transforms, chunking, level)."""
    import zstandard

    from jacwrap.recording.codec import shuffle, xor_delta

    cctx = zstandard.ZstdCompressor(level=level)
    total = 0
    for e in range(data["reward"].shape[0]):
        for a in range(0, data["reward"].shape[1], chunk):
            for f in ("jac_state", "jac_action"):
                j = data[f][e, a : a + chunk]
                if jac_dtype == "float32":
                    j = np.where(np.abs(j) < 1e-12, 0.0, j).astype(np.float32)
                x = xor_delta(j).reshape(len(j), -1).T
                total += len(cctx.compress(shuffle(np.ascontiguousarray(x))))
    return total


def tiles(data, total_steps: int, rng):
    """Perturbed copies of the real trajectories until ``total_steps`` steps."""
    b, t = data["reward"].shape
    made = 0
    while made < total_steps:
        copy = dict(data)
        for f in ("jac_state", "jac_action", "next_state", "action", "reward"):
            copy[f] = data[f] * (1 + 1e-6 * rng.standard_normal(data[f].shape))
        copy["obs"] = (data["obs"] * (1 + 1e-6 * rng.standard_normal(data["obs"].shape))).astype(
            np.float32
        )
        state = np.empty_like(copy["next_state"])
        state[:, 0] = data["state"][:, 0]
        state[:, 1:] = copy["next_state"][:, :-1]
        copy["state"] = state
        take = min(t, -(-(total_steps - made) // b))
        yield {f: v[:, :take] for f, v in copy.items()}
        made += b * take


def timed_open_read(path: Path, rng, n: int = 30) -> dict[str, float]:
    from jacwrap.recording import open_recording

    with open_recording(path) as rec:
        total = rec.num_steps
        ranges = rec.chunk_ranges()
    times = []
    for k in rng.integers(0, total, n):
        t0 = time.perf_counter()
        with open_recording(path) as rec:
            rec.step(int(k))
        times.append(time.perf_counter() - t0)
    with open_recording(path) as rec:
        rec.step(0)
        t0 = time.perf_counter()
        for j in range(1, 21):
            rec.step(ranges[(j * 7919) % len(ranges)][0])
        other_chunk = (time.perf_counter() - t0) / 20
        t0 = time.perf_counter()
        for _ in range(100):
            rec.step(int(ranges[0][0]) + 1)
        cached = (time.perf_counter() - t0) / 100
    # without the index: same bytes minus the last one (the trailer is gone -> scan)
    scan_path = path.with_suffix(".noindex.jwr")
    with open(path, "rb") as src, open(scan_path, "wb") as dst:
        size = os.fstat(src.fileno()).st_size
        while src.tell() < size - 1:
            dst.write(src.read(min(1 << 24, size - 1 - src.tell())))
    t0 = time.perf_counter()
    with open_recording(scan_path) as rec:
        rec.step(int(rng.integers(0, total)))
        assert rec.truncated_tail
    scan = time.perf_counter() - t0
    scan_path.unlink()
    return {
        "open_read_median_ms": 1e3 * float(np.median(times)),
        "open_read_max_ms": 1e3 * float(np.max(times)),
        "other_chunk_ms": 1e3 * other_chunk,
        "cached_ms": 1e3 * cached,
        "scan_open_read_ms": 1e3 * scan,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", type=int, default=8)
    p.add_argument("--real-steps", type=int, default=250, help="real steps per env")
    p.add_argument("--steps", type=int, default=100_000, help="steps of the large file")
    p.add_argument("--fresh", action="store_true", help="re-record the real data")
    p.add_argument("--markdown", action="store_true", help="print a BENCHMARKS.md section")
    args = p.parse_args(argv)

    from jacwrap.recording import codec, open_recording
    from jacwrap.recording.writer import RecordingWriter

    data, jac_rate = record_real(args.envs, args.real_steps, args.fresh)
    nreal = data["reward"].size
    raw = raw_bytes(data)
    savez = savez_bytes(data)
    jac_raw = data["jac_state"].nbytes + data["jac_action"].nbytes
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for jd in ("float64", "float32"):
            small = Path(tmp) / f"real-{jd}.jwr"
            write(small, data, jd)
            size = small.stat().st_size
            with open_recording(small) as rec:
                chunk = rec.chunk_ranges()[0][1]
                got = rec.read(0, rec.num_steps)  # sanity: env-major order, exact masks
                want = np.abs(data["jac_state"]).reshape(got.zero_state.shape) < 1e-12
                assert np.array_equal(got.zero_state, want)
            jac_only = jacobian_only_bytes(data, jd, chunk, codec.DEFAULT_LEVEL)
            big = Path(tmp) / f"big-{jd}.jwr"
            writer = RecordingWriter(big, header_for(data, jd), overwrite=True)
            seconds, written_raw = 0.0, 0
            for tile in tiles(data, args.steps, rng):
                seconds += write(big, tile, jd, writer)
                written_raw += raw_bytes(tile)
            t0 = time.perf_counter()
            writer.close()
            seconds += time.perf_counter() - t0
            with open_recording(big) as rec:
                nbig = rec.num_steps
            big_size = big.stat().st_size
            timing = timed_open_read(big, rng)
            big.unlink()
            rows.append(
                {
                    "jac_dtype": jd,
                    "bytes_per_step": size / nreal,
                    "ratio_raw": raw / size,
                    "ratio_savez": savez / size,
                    "jac_ratio_raw": jac_raw / jac_only,
                    "big_steps": nbig,
                    "big_bytes_per_step": big_size / nbig,
                    "write_mb_s": written_raw / seconds / 1e6,
                    "write_steps_s": nbig / seconds,
                    **timing,
                }
            )
    report(rows, args, nreal, raw, savez, jac_rate)
    return 0


def report(rows, args, nreal, raw, savez, jac_rate) -> None:
    lines = [
        f"Real data: {args.envs} x {args.real_steps} = {nreal} CheetahRun steps (random "
        f"policy). Raw arrays {raw / nreal:.0f} B/step (float64 Jacobians, float32 obs); "
        f"numpy.savez_compressed {savez / nreal:.0f} B/step ({raw / savez:.3f}x). "
        f"Jacobian steps of that batch: {jac_rate:.0f} steps/s (make_vec, B={args.envs}). "
        f"zstd level {_level()}.",
        "",
        "| | float64 (lossless) | float32 |",
        "|---|---|---|",
    ]

    def row(label, key, fmt):
        lines.append(f"| {label} | " + " | ".join(format(r[key], fmt) for r in rows) + " |")

    row("bytes/step (real data)", "bytes_per_step", ".0f")
    row("ratio vs raw arrays", "ratio_raw", ".3f")
    row("ratio vs savez_compressed", "ratio_savez", ".3f")
    row("Jacobian columns alone vs raw float64 J", "jac_ratio_raw", ".3f")
    row(f"bytes/step ({rows[0]['big_steps']} tiled steps)", "big_bytes_per_step", ".0f")
    row("write MB/s (raw bytes in)", "write_mb_s", ".0f")
    row("write steps/s", "write_steps_s", ".0f")
    lines.append(
        "| write / Jacobian step rate | "
        + " | ".join(f"{r['write_steps_s'] / jac_rate:.1f}x" for r in rows)
        + " |"
    )
    row("open + read 1 random step, median ms", "open_read_median_ms", ".2f")
    row("open + read 1 random step, max ms", "open_read_max_ms", ".2f")
    row("read from another chunk (open file), ms", "other_chunk_ms", ".2f")
    row("read from the cached chunk, ms", "cached_ms", ".3f")
    row("open without index (scan) + read, ms", "scan_open_read_ms", ".1f")
    text = "\n".join(lines)
    if args.markdown:
        print("## Recordings (bench/bench_recording.py)\n")
    print(text)


def _level() -> int:
    from jacwrap.recording import codec

    return codec.DEFAULT_LEVEL


if __name__ == "__main__":
    raise SystemExit(main())
