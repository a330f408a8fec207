"""One place that configures JAX for jacwrap: float64 and the persistent compile cache.

Ground-truth Jacobians are computed in float64 (SPEC.md), so ``jax_enable_x64`` is switched
on for the whole process the first time an environment is built. The persistent compilation
cache is on by default in a user cache directory; ``JACWRAP_CACHE_DIR`` moves it and
``JACWRAP_CACHE_DIR=""`` (empty) turns it off.
"""

from __future__ import annotations

import os
from pathlib import Path

_configured = False


def default_cache_dir() -> Path | None:
    """Directory of the persistent JAX compilation cache, or None when disabled."""
    value = os.environ.get("JACWRAP_CACHE_DIR")
    if value is not None:
        return Path(value).expanduser() if value.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jacwrap" / "jax"


def configure_jax() -> None:
    """Enable float64 and the persistent compilation cache (idempotent)."""
    global _configured
    if _configured:
        return
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = default_cache_dir()
    if cache is not None and not jax.config.jax_compilation_cache_dir:
        cache.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _configured = True
