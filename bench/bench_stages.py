"""Where an env step's time goes, by MJX stage, with and without tangents (`just bench`).

For each task, the compiled batched step that :class:`jacwrap.batch.EnvBatch` runs (plain,
and with J_s and J_a by forward mode) is profiled with ``jax.profiler``: every XLA CPU
thunk's own time (children excluded) is attributed to the MJX stage its HLO instruction
comes from, read off the instruction's ``op_name`` (MJX's named scopes) and its Python
stack (file names):

- kinematics: ``fwd_position`` outside collision and constraints (kinematics, com, crb,
  mass-matrix factorisation, transmission);
- collision (``collision_*.py``) and constraint rows (``constraint.py``, in fwd_position);
- smooth dynamics: ``fwd_velocity``, ``fwd_actuation``, ``fwd_acceleration``;
- constraint solver: ``solve``;
- integration: ``euler`` (``_advance``, ``_integrate_pos``);
- env: everything else (observation, reward, jacfwd's assembly, the sparsity).

The process runs on one core (pinned, as ``workers`` run), so the
profile is per core and other jobs on the machine do not turn XLA's thread hand-offs inside
the solver loop into waits (unpinned at load 13, CheetahRun's Jacobian step took 2.2 s a
call, ~90x a quiet machine's, 96 % of it in the solver); ``--no-pin`` runs it as is.
The wall time per call is the minimum over ``--repeats`` runs outside the profiler; the
stage shares come from the profiled runs (their sum of thunk times, which on several
threads may exceed the wall time), so a stage's ms = its share x the wall time.

    python -m bench.bench_stages [--envs CheetahRun WalkerRun SwimmerSwimmer6] [--batch 32]
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import platform
import re
import tempfile
import time
from collections import defaultdict

import numpy as np

STAGES = (
    "kinematics",
    "collision",
    "constraint rows",
    "smooth dynamics",
    "constraint solver",
    "integration",
    "env",
)
CONTAINERS = {"while", "conditional", "call"}  # thunks whose time is their children's


def _tables(hlo: str) -> tuple[dict[int, str], dict[int, tuple[int, int]]]:
    """(file location id -> file name, stack frame id -> (location id, parent id))."""
    files, locations, frames = {}, {}, {}
    section = None
    for line in hlo.splitlines():
        if line in ("FileNames", "FunctionNames", "FileLocations", "StackFrames"):
            section = line
            continue
        if not line.strip() or line.startswith(("%", "ENTRY", "HloModule", "}")):
            section = None if line.startswith(("%", "ENTRY")) else section
            continue
        m = re.match(r"(\d+) (.*)", line.strip())
        if m is None or section is None:
            continue
        key, rest = int(m.group(1)), m.group(2)
        if section == "FileNames":
            files[key] = os.path.basename(rest.strip('"'))
        elif section == "FileLocations":
            locations[key] = int(re.search(r"file_name_id=(\d+)", rest).group(1))
        elif section == "StackFrames":
            loc = int(re.search(r"file_location_id=(\d+)", rest).group(1))
            parent = int(re.search(r"parent_frame_id=(\d+)", rest).group(1))
            frames[key] = (loc, parent)
    return {k: files.get(v, "") for k, v in locations.items()}, frames


def _stack_files(frame: int | None, locations, frames) -> list[str]:
    out, seen = [], set()
    while frame is not None and frame in frames and frame not in seen:
        seen.add(frame)
        loc, parent = frames[frame]
        out.append(locations.get(loc, ""))
        frame = parent if parent != frame else None
    return out


def stage_of(op_name: str, files: list[str]) -> str:
    """The stage of one HLO instruction from its op_name and Python stack (see module doc)."""
    if "solve" in op_name or "solver.py" in files:
        return "constraint solver"
    if any(f.startswith("collision") for f in files):
        return "collision"
    if "constraint.py" in files:
        return "constraint rows"
    if re.search(r"euler|_advance|_integrate_pos", op_name):
        return "integration"
    if re.search(r"fwd_velocity|fwd_actuation|fwd_acceleration", op_name):
        return "smooth dynamics"
    if "fwd_position" in op_name:
        return "kinematics"
    return "env"


_INSTR = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = .*?\s([\w\-]+)\(")


def classify(hlo: str) -> tuple[dict[str, str], set[str]]:
    """(instruction name -> stage, names of container instructions) of a compiled module."""
    locations, frames = _tables(hlo)
    comp_stage: dict[str, str] = {}
    instr: dict[str, tuple[str, str, str | None]] = {}  # name -> (opcode, stage, calls)
    current, votes = None, defaultdict(int)
    for line in hlo.splitlines():
        head = re.match(r"^(?:ENTRY )?%([\w.\-]+) .*\{$", line)
        if head:
            current, votes = head.group(1), defaultdict(int)
            continue
        if line.startswith("}") and current is not None:
            comp_stage[current] = max(votes, key=votes.get) if votes else "env"
            current = None
            continue
        m = _INSTR.match(line)
        if m is None:
            continue
        op = re.search(r'op_name="([^"]*)"', line)
        sf = re.search(r"stack_frame_id=(\d+)", line)
        stage = None
        if op is not None:
            files = _stack_files(int(sf.group(1)) if sf else None, locations, frames)
            stage = stage_of(op.group(1), files)
            votes[stage] += 1
        calls = re.search(r"calls=%([\w.\-]+)", line)
        instr[m.group(1)] = (m.group(2), stage, calls.group(1) if calls else None)
    stages, containers = {}, set()
    for name, (opcode, stage, calls) in instr.items():
        if opcode in CONTAINERS:
            containers.add(name)
        stages[name] = stage or comp_stage.get(calls, "env")
    return stages, containers


def self_times(events: list[dict]) -> list[tuple[dict, float]]:
    """Each complete event with its own duration (nested events on its thread excluded)."""
    out = []
    by_tid = defaultdict(list)
    for e in events:
        by_tid[(e.get("pid"), e.get("tid"))].append(e)
    for evs in by_tid.values():
        evs.sort(key=lambda e: (e["ts"], -e.get("dur", 0)))
        own = [float(e.get("dur", 0)) for e in evs]
        stack: list[int] = []
        for i, e in enumerate(evs):
            while stack and evs[stack[-1]]["ts"] + evs[stack[-1]].get("dur", 0) <= e["ts"]:
                stack.pop()
            if stack:
                own[stack[-1]] -= float(e.get("dur", 0))
            stack.append(i)
        out.extend(zip(evs, own, strict=True))
    return out


def profile(name: str, batch: int, jacobians: bool, repeats: int) -> tuple[float, dict]:
    """(wall ms per call, stage -> share of thunk time) of one compiled batched step."""
    import jax
    import jax.numpy as jnp

    from jacwrap.batch import compiled_batch
    from jacwrap.envs import load_playground
    from jacwrap.sparsity import GROUND_TRUTH_THRESHOLD

    env = load_playground(name)
    fns = compiled_batch(
        env, batch, jacobians=jacobians, threshold=GROUND_TRUTH_THRESHOLD, shard=False
    )
    state, _ = fns.reset(jax.vmap(jax.random.PRNGKey)(jnp.arange(batch, dtype=jnp.uint32)))
    actions = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (batch, env.action_size)))
    compiled = fns.step.lower(state, actions).compile()
    hlo = compiled.as_text()
    module = re.match(r"HloModule (\S+?),", hlo).group(1)
    stages, containers = classify(hlo)
    jax.block_until_ready(compiled(state, actions))
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(state, actions))
        walls.append(time.perf_counter() - t0)
    totals = defaultdict(float)
    with tempfile.TemporaryDirectory() as tmp:
        with jax.profiler.trace(tmp, create_perfetto_trace=True):
            for _ in range(3):
                jax.block_until_ready(compiled(state, actions))
        path = glob.glob(os.path.join(tmp, "**", "*.trace.json.gz"), recursive=True)[0]
        with gzip.open(path) as f:
            events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
    ours = [e for e in events if e.get("args", {}).get("hlo_module") == module]
    for e, own in self_times(ours):
        op = e["args"].get("hlo_op", "")
        if op in containers:
            continue
        totals[stages.get(op, "env")] += max(own, 0.0)
    total = sum(totals.values()) or 1.0
    return 1e3 * min(walls), {s: totals[s] / total for s in STAGES}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--envs", nargs="+", default=["CheetahRun", "WalkerRun", "SwimmerSwimmer6"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=20, help="timed calls (minimum reported)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    args = ap.parse_args(argv)
    if not args.no_pin:
        from jacwrap.parallel import pin_to_one_core

        pin_to_one_core()

    import jax

    import jacwrap  # noqa: F401  (float64 + cache)

    print(
        f"# jacwrap MJX stage profile  {time.strftime('%Y-%m-%d')}  {platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, jax {jax.__version__}, "
        f"batch {args.batch}, {'unpinned' if args.no_pin else 'pinned to one core'}"
    )
    print()
    print("| env | step | ms / call (min) | " + " | ".join(f"{s} % (ms)" for s in STAGES) + " |")
    print("|---|---|---|" + "---|" * len(STAGES))
    for name in args.envs:
        for jacobians in (False, True):
            wall, shares = profile(name, args.batch, jacobians, args.repeats)
            cells = " | ".join(f"{100 * shares[s]:.0f} ({shares[s] * wall:.1f})" for s in STAGES)
            kind = "Jacobian (jvp)" if jacobians else "plain"
            print(f"| {name} | {kind} | {wall:.1f} | {cells} |", flush=True)
    print()
    print(f"load after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
