"""Packaging: the core imports no extra, missing extras name themselves, tui/ and agents/
install under the jacwrap namespace, the shipped policies are package data."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from jacwrap._extras import MissingExtraError, require

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: The wrapper's needs; tqdm (rollout progress) and flatbuffers (jax.export's serialisation,
#: the step cache of warm starts) are small pure-Python packages; ml_dtypes is jax's own,
#: pinned below the release whose import costs 0.44 s (pyproject.toml).
CORE = {
    *("jax", "mujoco", "mujoco-mjx", "playground", "gymnasium", "numpy", "zstandard"),
    *("tqdm", "flatbuffers", "ml_dtypes"),
}
HEAVY = ("torch", "stable_baselines3", "textual", "matplotlib", "sklearn", "optax", "jacwrap.tui")


def _name(req: str) -> str:
    return re.split(r"[<>=\[ ;]", req, maxsplit=1)[0].lower()


def test_core_dependencies_are_only_what_the_wrapper_needs():
    assert {_name(r) for r in PYPROJECT["project"]["dependencies"]} == CORE


def test_every_extra_is_declared_and_all_includes_them():
    extras = PYPROJECT["project"]["optional-dependencies"]
    wanted = {"sb3", "tui", "analysis", "fit", "agents", "render", "export", "ray"}
    assert wanted <= set(extras)
    (everything,) = extras["all"]
    assert set(everything.removeprefix("jacwrap[").removesuffix("]").split(",")) == wanted
    assert {_name(r) for r in extras["sb3"]} >= {"stable-baselines3", "torch", "colorednoise"}
    assert {_name(r) for r in extras["tui"]} == {"textual"}


def test_packages_cover_every_folder_and_install_no_top_level_tui_or_agents():
    """The explicit package list misses no sub-package (a new folder must be added to it)."""
    tool = PYPROJECT["tool"]["setuptools"]
    dirs = tool["package-dir"]
    assert dirs == {"jacwrap.tui": "tui", "jacwrap.agents": "agents"}
    found = set()
    for name, folder in {"jacwrap": "jacwrap", **dirs}.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            if "__pycache__" not in rel:
                found.add(".".join((name, *rel)))
    packages = set(tool["packages"])
    assert found <= packages
    assert all(p.split(".")[0] == "jacwrap" for p in packages)


def test_shipped_policy_is_found_as_package_data():
    from jacwrap.policies import policy_dir, shipped_policy

    assert Path(shipped_policy("CartpoleBalance")).samefile(
        ROOT / "agents" / "policies" / "CartpoleBalance.zip"
    )
    assert shipped_policy("NoSuchTask") is None
    assert (policy_dir() / "returns.json").is_file()


def test_require_names_the_extra_and_passes_other_import_errors_through(tmp_path, monkeypatch):
    assert require("sb3", "json") is sys.modules["json"]
    with pytest.raises(MissingExtraError, match=r"pip install 'jacwrap\[tui\]'"):
        require("tui", "no_such_module_jacwrap_test")
    # A module that is installed but fails on a package of its own is not a missing extra.
    (tmp_path / "broken_mod_jacwrap_test.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as err:
        require("tui", "broken_mod_jacwrap_test")
    assert not isinstance(err.value, MissingExtraError)
    assert isinstance(MissingExtraError("x"), ImportError)


def test_the_wrapper_and_a_random_recording_import_no_extra():
    """``make_vec`` and ``record_rollouts`` with a random policy import neither SB3 nor torch."""
    code = (
        "import sys, jacwrap, jacwrap.vector_env, jacwrap.gym_env, jacwrap.recording.rollout, "
        "jacwrap.recording.recorder, jacwrap.policies, jacwrap.cli, jacwrap.recording.summary\n"
        "from jacwrap.envs import describe\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_make_vec_imports_no_torch_even_where_torch_is_installed():
    """Playground's own import would load torch (its RSL-RL wrapper); jacwrap hides it."""
    pytest.importorskip("torch")  # installed here: the case that matters
    code = (
        "import sys, jacwrap\n"
        "venv = jacwrap.make_vec('CartpoleBalance', 2)\n"
        "from jacwrap.batch_protocol import Batch\n"
        "venv.reset(seed=0)\n"  # the Protocol's state property exists after a reset
        "assert isinstance(venv.batch, Batch) and venv.batch.obs_dim == 5\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
        "import torch, mujoco_playground\n"  # and torch still imports afterwards
        "print(torch.zeros(2).sum().item())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.split() == ["[]", "0.0"], out.stdout
