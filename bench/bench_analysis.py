"""Throughput of the streaming analysis (``jacwrap analyze`` minus figures) at CheetahRun shape.

Run: ``.venv/bin/python -m bench.bench_analysis [--steps 1000000] [--chunk 4096]``.

Synthetic source: 24 episodes of 1000 steps whose zero masks switch as independent
two-state Markov chains (per-element switching rates 0.1 %-20 % per step, a few elements
always zero), cycled with fresh episode indices up to ``--steps`` steps and cut into chunks
of ``--chunk`` steps (episodes span chunk boundaries). Timed: the reductions of
:class:`jacwrap.analysis.StreamStats` (all but the t-SNE embedding), without and with the
t-SNE reservoir, then the t-SNE embedding of the capped sample on its own. With
``--recording FILE`` the same reductions are also timed through the real reader.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np

from jacwrap.analysis.accumulators import StreamStats
from jacwrap.analysis.embedding import tsne_embed

N, M, EP_LEN, POOL_EPISODES = 18, 6, 1000, 24


def synthetic_pool(seed: int = 0) -> SimpleNamespace:
    """24 CheetahRun-shaped episodes of 1000 steps with Markov-switching zero masks."""
    rng = np.random.default_rng(seed)
    k = EP_LEN * POOL_EPISODES
    e = N * (N + M)
    rate = rng.uniform(0.001, 0.2, size=e)
    flips = rng.random((k, e)) < rate
    flips[::EP_LEN] = rng.random((POOL_EPISODES, e)) < 0.5  # random start value
    mask = np.logical_xor.accumulate(flips.reshape(POOL_EPISODES, EP_LEN, e), axis=1)
    mask = mask.reshape(k, N, N + M)
    mask[:, :, :2] = True  # two always-zero columns (translation invariance)
    zs, za = np.ascontiguousarray(mask[:, :, :N]), np.ascontiguousarray(mask[:, :, N:])
    sz, sa = zs.sum((1, 2)), za.sum((1, 2))
    sparsity = np.stack([sz / (N * N), sa / (N * M), (sz + sa) / (N * (N + M))], axis=1)
    finite = np.ones(k, bool)
    finite[rng.integers(0, k, 5)] = False
    sparsity[~finite] = np.nan
    return SimpleNamespace(
        state=rng.normal(size=(k, N)),
        action=rng.normal(size=(k, M)),
        next_state=rng.normal(size=(k, N)),
        zero_state=zs,
        zero_action=za,
        sparsity=sparsity,
        finite=finite,
        episode=np.repeat(np.arange(POOL_EPISODES), EP_LEN),
        t=np.tile(np.arange(EP_LEN), POOL_EPISODES),
    )


def synthetic_chunks(pool: SimpleNamespace, steps: int, chunk: int):
    """Cycle the pool (fresh episode indices each pass) in chunks of ``chunk`` steps."""
    k = pool.finite.size
    done = 0
    while done < steps:
        a = done % k
        b = min(a + chunk, k, a + steps - done)
        offset = (done // k) * POOL_EPISODES
        view = SimpleNamespace(**{name: v[a:b] for name, v in vars(pool).items()})
        view.episode = pool.episode[a:b] + offset
        yield view
        done += b - a


def write_recording(path: str, pool: SimpleNamespace, steps: int, seed: int = 0) -> None:
    """Write the cycled pool as a CheetahRun-shaped .jwr (Gaussian values where non-zero)."""
    from jacwrap.recording import RecordingWriter
    from tests.synthetic_recordings import synthetic_header

    h = synthetic_header(N, M, 17, env_name="CheetahRunSynthetic")
    rng = np.random.default_rng(seed)
    with RecordingWriter(path, h, overwrite=True) as w:
        for c in synthetic_chunks(pool, steps, EP_LEN):
            k = c.finite.size
            js = np.where(c.zero_state, 0.0, rng.normal(size=(k, N, N)))
            ja = np.where(c.zero_action, 0.0, rng.normal(size=(k, N, M)))
            js[~c.finite, 0, 0] = np.nan
            for i in range(k):
                w.add(
                    obs=np.zeros(17),
                    action=c.action[i],
                    reward=0.0,
                    terminated=False,
                    truncated=bool(c.t[i] == EP_LEN - 1),
                    state=c.state[i],
                    next_state=c.next_state[i],
                    jac_state=js[i],
                    jac_action=ja[i],
                )


def time_stream(chunks, tsne_cap: int) -> tuple[float, StreamStats]:
    st = StreamStats(N, M, tsne_cap=tsne_cap, tsne_episodes=10 if tsne_cap else 0)
    t0 = time.perf_counter()
    for c in chunks:
        st.update(c)
    st.finish()
    return time.perf_counter() - t0, st


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--recording", default=None, help="also time a real .jwr file")
    ap.add_argument(
        "--write-recording",
        type=int,
        default=0,
        metavar="K",
        help="first write K synthetic steps to --recording (then time reading it)",
    )
    args = ap.parse_args(argv)

    pool = synthetic_pool()
    if args.recording and args.write_recording:
        t0 = time.perf_counter()
        write_recording(args.recording, pool, args.write_recording)
        print(f"wrote {args.write_recording:,} steps in {time.perf_counter() - t0:.1f} s")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = []
    secs, st = time_stream(synthetic_chunks(pool, args.steps, args.chunk), 0)
    rows.append(("synthetic, no t-SNE sample", args.steps, secs))
    secs, st = time_stream(synthetic_chunks(pool, args.steps, args.chunk), 2000)
    rows.append(("synthetic, + t-SNE reservoir (cap 2000)", args.steps, secs))
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peaks = []
    for k in (args.steps // 10, args.steps):  # memory must not grow with the steps
        tracemalloc.start()
        time_stream(synthetic_chunks(pool, k, args.chunk), 2000)
        peaks.append((k, tracemalloc.get_traced_memory()[1] / 2**20))
        tracemalloc.stop()
    t0 = time.perf_counter()
    _, p = tsne_embed(st.tsne.x, seed=0)
    rows.append((f"t-SNE embedding of {len(st.tsne)} samples (perplexity {p:g})", len(st.tsne),
                 time.perf_counter() - t0))  # fmt: skip
    if args.recording:
        from jacwrap.recording import open_recording

        with open_recording(args.recording) as rec:
            h = rec.header
            t0 = time.perf_counter()
            for _ in rec.iter_chunks():
                pass
            read = time.perf_counter() - t0
            chunk_len = rec.num_steps / max(rec.num_chunks, 1)
            t0 = time.perf_counter()
            s = StreamStats(h.n, h.m, tsne_cap=0, tsne_episodes=0)
            for c in rec.iter_chunks():
                s.update(c)
            s.finish()
            rows.append((f"reader only ({chunk_len:.0f}-step chunks)", rec.num_steps, read))
            rows.append(("reader + reductions, no t-SNE", rec.num_steps,
                         time.perf_counter() - t0))  # fmt: skip

    print(f"CheetahRun shape n={N} m={M}, chunks of {args.chunk} steps, episodes of {EP_LEN}")
    print("| what | steps | seconds | steps/s |\n|---|---:|---:|---:|")
    for what, k, s in rows:
        print(f"| {what} | {k:,} | {s:.2f} | {k / s:,.0f} |")
    print(f"peak RSS {rss1:.0f} MiB (synthetic pool alone {rss0:.0f} MiB)")
    print(
        "peak memory allocated while streaming (tracemalloc, t-SNE reservoir on): "
        + ", ".join(f"{k:,} steps {mib:.1f} MiB" for k, mib in peaks)
    )


if __name__ == "__main__":
    main()
