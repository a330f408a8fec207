"""The batch is sharded over all local devices (two forced host devices on CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

import jacwrap

SCRIPT = r"""
import json, sys
import numpy as np
import jax
import jacwrap
assert len(jax.devices()) == 2, jax.devices()
vec = jacwrap.make_vec("CartpoleBalance", 4, episode_length=2)
assert vec._batch._sharding is not None
obs, _ = vec.reset(seed=3)
acts = np.linspace(-1, 1, 4 * 3).reshape(3, 4, 1)
out = [vec.step(a) for a in acts]
assert vec._batch._step._cache_size() == 1  # the sharded step compiles once
last = out[-1][4]
print(json.dumps({"obs": out[-1][0].tolist(), "jac_state": last["jac_state"].tolist(),
                  "jac_action": last["jac_action"].tolist()}))
"""


def test_sharded_batch_equals_single_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sharded = json.loads(proc.stdout.strip().splitlines()[-1])
    vec = jacwrap.make_vec("CartpoleBalance", 4, episode_length=2)  # crosses an auto-reset
    vec.reset(seed=3)
    acts = np.linspace(-1, 1, 4 * 3).reshape(3, 4, 1)
    out = [vec.step(a) for a in acts]
    np.testing.assert_allclose(sharded["obs"], out[-1][0], rtol=1e-6)
    np.testing.assert_allclose(sharded["jac_state"], out[-1][4]["jac_state"], rtol=1e-10)
    np.testing.assert_allclose(sharded["jac_action"], out[-1][4]["jac_action"], rtol=1e-10)
