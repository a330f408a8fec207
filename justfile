# jacwrap tasks. Every recipe uses the project virtual environment in .venv (made by `setup`).

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
py := venv + "/bin/python"

# List recipes.
default:
    @just --list

# Create .venv and install jacwrap with its dev tools (idempotent, fast when up to date).
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x {{py}} ]; then python3 -m venv {{venv}}; fi
    stamp={{venv}}/.jacwrap-installed
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        {{py}} -m pip install -q --upgrade pip
        {{py}} -m pip install -q -e '.[all,dev]'
        touch "$stamp"
    fi
    {{py}} jacwrap/render/gl.py  # says which system packages rendering needs, if missing

# Record a short demo episode with a shipped policy, print its summary, replay it in a terminal.
demo env="CartpoleBalance": setup
    {{py}} -m jacwrap demo {{env}}

# Fast test suite (< 15 min on 2 CPU cores with a cold compile cache), docstring examples included.
test *args: setup
    {{py}} -m pytest -q -m "not slow" --doctest-modules --durations=15 {{args}}

# Everything, including the slow checks (all eight tasks, longer training and fits).
test-all *args: setup
    {{py}} -m pytest -q --doctest-modules {{args}}

# Ruff lint and format check.
lint: setup
    {{venv}}/bin/ruff check .
    {{venv}}/bin/ruff format --check .

# Benchmarks: prints ratios measured side by side in one run (record them in BENCHMARKS.md).
bench: setup
    {{py}} -m bench.bench_env
    {{py}} -m bench.bench_startup
    {{py}} -m bench.bench_policy
    {{py}} -m bench.bench_stages
    {{py}} -m bench.bench_contacts
    {{py}} -m bench.bench_batching
    {{py}} -m bench.bench_large_batch
    {{py}} -m bench.bench_clients
    {{py}} -m bench.bench_codegen
    {{py}} -m bench.bench_recording
    {{py}} -m bench.bench_analysis
    {{py}} -m bench.bench_fit
    {{py}} -m bench.bench_tui
    {{py}} -m bench.bench_render

# Train one expert agent with its shipped settings (agents/presets.py) -> agents/policies/ENV.zip.
train env *args: setup
    {{py}} -m agents.train {{env}} {{args}}

# Train the eight expert agents one after another (about 1.5 h on 2 CPU cores; see agents/README.md).
train-all: setup
    for env in $({{py}} -c "from agents.presets import PRESETS; print(*PRESETS)"); do {{py}} -m agents.train $env --no-progress; done

# Evaluate every shipped agent: stochastic (its colored noise) and mean action, 10 episodes each.
eval-agents episodes="10": setup
    for f in agents/policies/*.zip; do env=$(basename $f .zip); {{py}} -m agents.evaluate $env $f --episodes {{episodes}}; {{py}} -m agents.evaluate $env $f --episodes {{episodes}} --deterministic; done

# Analyse recordings (Q1-Q3 tables, figures, index.md): just analyze out/ recordings/*.jwr
analyze out *files: setup
    {{py}} -m jacwrap analyze {{files}} --out {{out}}

# Streaming-analysis throughput at CheetahRun shape (synthetic chunks; see bench/bench_analysis.py).
bench-analysis *args: setup
    {{py}} -m bench.bench_analysis {{args}}

# Fit MLP dynamics models on recordings (five loss modes; see docs/FIT.md), e.g. `just fit run.jwr --seeds 3`.
fit *args: setup
    {{py}} -m jacwrap fit {{args}}

# MLP-fit training speed per loss mode at CheetahRun shape (see bench/bench_fit.py).
bench-fit *args: setup
    {{py}} -m bench.bench_fit {{args}}

# Recording format: bytes/step, compression, write speed, open + random read (bench/bench_recording.py).
bench-recording *args: setup
    {{py}} -m bench.bench_recording {{args}}

# Replay a recording in the terminal (keyboard only; ? lists the keys), e.g. `just replay run.jwr`.
replay file="recordings/demo-CartpoleBalance.jwr": setup
    {{py}} -m jacwrap replay {{file}}
