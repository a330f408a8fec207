"""Shared test set-up: a persistent JAX compile cache and small real environments."""

from __future__ import annotations

import os
from pathlib import Path

# Compiles are paid once per machine: keep the cache in the project (CI reuses a clone's).
os.environ.setdefault(
    "JACWRAP_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".jax_cache")
)
