"""One place that configures JAX for jacwrap: float64, CPU codegen, the persistent cache.

Ground-truth Jacobians are computed in float64 (docs/SCIENCE.md, "The transition function and its Jacobians"), so ``jax_enable_x64`` is switched
on for the whole process the first time an environment is built. The persistent compilation
cache is on by default in a user cache directory; ``JACWRAP_CACHE_DIR`` moves it and
``JACWRAP_CACHE_DIR=""`` (empty) turns it off. Traced steps are kept next to the compiled
code (:func:`step_cache_dir`, :mod:`jacwrap.step_cache`).

On CPU, XLA's newer fusion emitters duplicate work inside large elementwise fusions. MJX's
forward kinematics along a deep kinematic chain (one quaternion product per level) becomes
such a fusion: SwimmerSwimmer6's step ran 31x slower with them (251 vs 7,817 plain steps/s,
14 vs 281 Jacobian steps/s at batch 32), while CartpoleBalance and CheetahRun run about as
fast either way (`bench/bench_codegen.py`, BENCHMARKS.md). ``configure_jax`` therefore adds
``--xla_cpu_use_fusion_emitters=false`` to ``XLA_FLAGS`` unless the variable already mentions
that flag (set it to ``true`` to keep them) and the CPU backend has not started yet (flags
are read once, at that point). Only code generation changes, not the arithmetic's
semantics (no fast math): the Jacobians keep the same exact zeros and agree to ~1e-10.
"""

from __future__ import annotations

import os
from pathlib import Path

_configured = False

CPU_FLAGS = ("--xla_cpu_use_fusion_emitters=false",)
"""XLA flags jacwrap adds for the CPU backend (see the module docstring)."""


def default_cache_dir() -> Path | None:
    """Directory of the persistent JAX compilation cache, or None when disabled."""
    value = os.environ.get("JACWRAP_CACHE_DIR")
    if value is not None:
        return Path(value).expanduser() if value.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jacwrap" / "jax"


def step_cache_dir() -> Path | None:
    """Directory of jacwrap's traced-step cache (:mod:`jacwrap.step_cache`), or None when off.

    ``JACWRAP_STEP_CACHE_DIR`` names it (empty: off); otherwise it is ``jacwrap-steps/``
    inside JAX's compile cache directory, so it is off where that cache is off and a fresh
    compile cache directory starts with a fresh step cache too.
    """
    value = os.environ.get("JACWRAP_STEP_CACHE_DIR")
    if value is not None:
        return Path(value).expanduser() if value.strip() else None
    import jax

    compile_dir = jax.config.jax_compilation_cache_dir
    return Path(compile_dir) / "jacwrap-steps" if compile_dir else None


def add_cpu_flags(environ=os.environ, flags: tuple[str, ...] = CPU_FLAGS) -> str:
    """Append ``flags`` to ``environ["XLA_FLAGS"]``, each unless the user already set it."""
    current = environ.get("XLA_FLAGS", "")
    for flag in flags:
        if flag.split("=")[0] not in current:
            current = f"{current} {flag}".strip()
    environ["XLA_FLAGS"] = current
    return current


def _backends_started() -> bool:
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge._backends)
    except (ImportError, AttributeError):  # private API moved: assume started, change nothing
        return True


def configure_jax() -> None:
    """Enable float64, jacwrap's CPU flags and the persistent compilation cache (idempotent)."""
    global _configured
    if _configured:
        return
    import jax

    if not _backends_started():
        add_cpu_flags()

    jax.config.update("jax_enable_x64", True)
    cache = default_cache_dir()
    if cache is not None and not jax.config.jax_compilation_cache_dir:
        cache.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _configured = True
