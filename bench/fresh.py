"""Run a benchmark snippet in a fresh Python process (XLA flags and caches start clean)."""

from __future__ import annotations

import json
import subprocess
import sys


def run_fresh(code: str, args: list, environ: dict, timeout: float | None = None) -> dict:
    """Run ``python -c code *args`` with ``environ``; returns the JSON of its last stdout line.

    Raises ``subprocess.TimeoutExpired`` past ``timeout`` seconds.
    """
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])
