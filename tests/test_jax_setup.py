"""jacwrap's XLA CPU flags: added where the user did not choose, never overriding a choice."""

from __future__ import annotations

import os
import subprocess
import sys

from jacwrap._jax_setup import CPU_FLAGS, add_cpu_flags


def test_flags_are_appended_to_other_flags():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    add_cpu_flags(env)
    assert env["XLA_FLAGS"].split() == ["--xla_force_host_platform_device_count=2", *CPU_FLAGS]
    empty: dict[str, str] = {}
    add_cpu_flags(empty)
    assert empty["XLA_FLAGS"].split() == list(CPU_FLAGS)


def test_a_user_setting_wins():
    env = {"XLA_FLAGS": "--xla_cpu_use_fusion_emitters=true"}
    add_cpu_flags(env)
    assert env["XLA_FLAGS"] == "--xla_cpu_use_fusion_emitters=true"


def test_building_an_env_sets_the_flags_before_the_backend_starts():
    code = (
        "import os, jacwrap; jacwrap.make('CartpoleBalance', jacobians=False);"
        "print(os.environ['XLA_FLAGS'])"
    )
    environ = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == list(CPU_FLAGS)
