"""Set-up of the docstring examples (``--doctest-modules`` over jacwrap/ and tui/).

Each example runs in a fresh temporary directory that holds ``run.jwr``, a copy of the
shipped demo recording (recordings/demo-CartpoleBalance.jwr: CartpoleBalance, 2 episodes
of 120 steps), so that the examples can name files the way a user's script would. Minari
datasets go to that directory too. The compile cache is the tests' (tests/conftest.py).
Not installed: only jacwrap/ is a package.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("JACWRAP_CACHE_DIR", str(ROOT / ".jax_cache"))


@pytest.fixture(autouse=True)
def _doctest_directory(request, tmp_path, monkeypatch):
    if type(request.node).__name__ != "DoctestItem":
        yield
        return
    shutil.copy(ROOT / "recordings" / "demo-CartpoleBalance.jwr", tmp_path / "run.jwr")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    yield
