"""Deferred imports (jacwrap/_lazy_imports.py): a stand-in imports its module at the first
use, serves placeholders only while Playground is imported, and a model with meshes still
converts exactly as with trimesh imported up front (BENCHMARKS.md "Warm start")."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jacwrap import _lazy_imports as lazy

TOY = """
import sys
sys.jw_toy_loads = getattr(sys, "jw_toy_loads", 0) + 1

class Thing:
    pass

def answer():
    return 42
"""


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A module ``jw_toy`` that counts its imports in ``sys.jw_toy_loads``, deferred."""
    (tmp_path / "jw_toy.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(lazy, "DEFERRED", {"jw_toy": ("Thing",), "jw_absent_module": ()})
    monkeypatch.delitem(sys.modules, "jw_toy", raising=False)
    yield
    sys.modules.pop("jw_toy", None)
    if hasattr(sys, "jw_toy_loads"):
        del sys.jw_toy_loads


def test_a_stand_in_imports_its_module_at_first_use_only(toy):
    with lazy.deferred_imports() as names:
        import jw_toy

        annotation = jw_toy.Thing  # what a signature evaluated during the import sees
        assert lazy.is_deferred("jw_toy")
    assert names == ["jw_toy"]  # a module that is not installed is left alone
    assert not hasattr(sys, "jw_toy_loads")  # nothing of it ran yet
    assert annotation.__name__ == "Thing" and annotation.__module__ == "jw_toy"

    assert jw_toy.answer() == 42  # the first use imports it
    real = sys.modules["jw_toy"]
    assert real is not jw_toy and not lazy.is_deferred("jw_toy")
    assert jw_toy.Thing is real.Thing and annotation is not real.Thing
    assert jw_toy.Thing().__class__.__module__ == "jw_toy"
    assert sys.jw_toy_loads == 1
    import jw_toy as again

    assert again is real and sys.jw_toy_loads == 1


def test_other_names_during_the_import_and_modules_already_imported(toy):
    with lazy.deferred_imports():
        import jw_toy

        assert jw_toy.answer() == 42  # not a placeholder name: the real module, at once
        assert sys.jw_toy_loads == 1
    with lazy.deferred_imports() as names:
        assert names == []  # imported already: left alone
    assert sys.modules["jw_toy"].Thing is jw_toy.Thing


PKG_INIT = """
import sys
sys.jw_pkg_loads = getattr(sys, "jw_pkg_loads", []) + ["jw_pkg"]
from jw_pkg import inner  # the package's own import loads this submodule, not the other
"""
PKG_SUB = """
import sys
sys.jw_pkg_loads = getattr(sys, "jw_pkg_loads", []) + [__name__]
value = __name__
"""


@pytest.fixture
def toy_package(tmp_path, monkeypatch):
    """A package ``jw_pkg`` (submodules ``inner``, loaded by its ``__init__``, and ``outer``)
    that lists its module loads in ``sys.jw_pkg_loads``, deferred."""
    (tmp_path / "jw_pkg").mkdir()
    (tmp_path / "jw_pkg" / "__init__.py").write_text(PKG_INIT)
    for sub in ("inner", "outer"):
        (tmp_path / "jw_pkg" / f"{sub}.py").write_text(PKG_SUB)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(lazy, "DEFERRED", {"jw_pkg": ()})
    yield
    for name in ("jw_pkg", "jw_pkg.inner", "jw_pkg.outer"):
        sys.modules.pop(name, None)
    if hasattr(sys, "jw_pkg_loads"):
        del sys.jw_pkg_loads


def test_a_submodule_of_a_deferred_package_imports_the_package_first(toy_package):
    with lazy.deferred_imports() as names:
        pass
    assert names == ["jw_pkg"] and lazy.is_deferred("jw_pkg")
    from jw_pkg.inner import value  # loaded by the package's import: handed over, not reloaded

    assert value == "jw_pkg.inner" and not lazy.is_deferred("jw_pkg")
    assert sys.jw_pkg_loads == ["jw_pkg", "jw_pkg.inner"]
    inner = sys.modules["jw_pkg.inner"]
    assert sys.modules["jw_pkg"].inner is inner and inner.__spec__.origin.endswith("inner.py")
    import jw_pkg.outer  # not loaded by the package: found in its path

    assert jw_pkg.outer.value == "jw_pkg.outer" and sys.modules["jw_pkg"].outer is jw_pkg.outer
    assert sys.jw_pkg_loads == ["jw_pkg", "jw_pkg.inner", "jw_pkg.outer"]


def test_a_submodule_of_a_deferred_package_that_the_package_does_not_load(toy_package):
    with lazy.deferred_imports():
        pass
    import jw_pkg.outer

    assert sys.jw_pkg_loads == ["jw_pkg", "jw_pkg.inner", "jw_pkg.outer"]
    assert not lazy.is_deferred("jw_pkg") and jw_pkg.outer.value == "jw_pkg.outer"


def test_scipy_and_flax_submodules_import_after_playground():
    """The imports a robotics script makes after jacwrap built an env (they failed with
    "'scipy.spatial' is not a package" while the stand-ins were not packages)."""
    script = """
import json, sys
import jacwrap
from jacwrap._lazy_imports import is_deferred
from jacwrap.envs import playground_registry
playground_registry()
deferred = [is_deferred("scipy.spatial"), is_deferred("flax.linen")]
from scipy.spatial.transform import Rotation
import flax.linen.initializers
import flax.linen
q = Rotation.from_euler("z", 90, degrees=True).as_quat().round(6).tolist()
same = [sys.modules["scipy.spatial"].transform.Rotation is Rotation,
        flax.linen.initializers is sys.modules["flax.linen.initializers"]]
print(json.dumps({"deferred": deferred, "q": q, "same": same,
                  "real": [type(sys.modules[m]).__name__ for m in ("scipy.spatial", "flax.linen")]}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["deferred"] == [True, True]
    assert got["q"] == [0.0, 0.0, 0.707107, 0.707107]
    assert got["same"] == [True, True] and got["real"] == ["module", "module"]


MESH_XML = """<mujoco><asset>
  <mesh name="tet" vertex="0 0 0  1 0 0  0 1 0  0 0 1  0.2 0.2 0.2"/>
</asset><worldbody>
  <geom type="plane" size="5 5 .1"/>
  <body pos="0 0 1"><joint type="slide" axis="0 0 1"/><geom type="mesh" mesh="tet"/></body>
</worldbody></mujoco>"""

MESH_SCRIPT = f"""
import hashlib, json, sys
if sys.argv[1] == "eager":
    import scipy.spatial, trimesh  # imported before jacwrap: nothing to defer
import jax, numpy as np
import jacwrap
from jacwrap._lazy_imports import is_deferred
from jacwrap.envs import playground_registry
playground_registry()
before = [is_deferred("trimesh"), is_deferred("scipy.spatial"), "networkx" in sys.modules]
others = [is_deferred("jaxopt"), is_deferred("flax.linen")]
others += [m in sys.modules for m in ("scipy.optimize", "rich")]  # what those two import
import mujoco
from mujoco import mjx
mx = mjx.put_model(mujoco.MjModel.from_xml_string('''{MESH_XML}'''), impl="jax")
leaves = [np.asarray(x) for x in jax.tree.leaves(mx) if hasattr(x, "shape")]
digest = hashlib.sha256(b"".join(x.tobytes() for x in leaves)).hexdigest()
convex = [np.asarray(x).size for x in jax.tree.leaves(mx.mesh_convex)]
print(json.dumps({{"before": before, "others": others, "after": is_deferred("trimesh"),
                  "digest": digest,
                  "convex": convex, "trimesh": type(sys.modules["trimesh"]).__name__}}))
"""


def _mesh_run(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", MESH_SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_playground_imports_without_mesh_tools_and_a_mesh_model_converts_the_same():
    deferred, eager = _mesh_run("deferred"), _mesh_run("eager")
    assert deferred["before"] == [True, True, False]  # neither trimesh nor networkx loaded
    assert eager["before"] == [False, False, True]
    assert deferred["others"] == [True, True, False, False]  # jaxopt and flax.linen too
    assert deferred["after"] is False and deferred["trimesh"] == "module"  # the real one, used
    assert sum(deferred["convex"]) > 0  # the mesh went through MJX's convex-hull code
    assert deferred["digest"] == eager["digest"] and deferred["convex"] == eager["convex"]
