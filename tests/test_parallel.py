"""Worker-process batches (how several CPU cores get used) equal the single-process batch."""

from __future__ import annotations

import numpy as np
import pytest

import jacwrap
from jacwrap.parallel import ProcessEnvBatch


def test_two_workers_equal_one_process_across_an_autoreset():
    b, steps = 4, 5
    acts = np.random.default_rng(1).uniform(-1, 1, (steps, b, 1))
    acts[2, 3] = np.nan  # a blow-up in one env of the second worker
    results = []
    for workers in (1, 2):
        vec = jacwrap.make_vec("CartpoleBalance", b, workers=workers, episode_length=3)
        assert isinstance(vec._batch, ProcessEnvBatch) == (workers == 2)
        assert vec.single_observation_space.shape == (5,)  # workers report their obs size
        obs, _ = vec.reset(seed=11)
        results.append([obs] + [vec.step(a) for a in acts])
        vec.close()
    one, two = results
    np.testing.assert_allclose(one[0], two[0], rtol=1e-6)
    for (o1, r1, te1, tr1, i1), (o2, r2, te2, tr2, i2) in zip(one[1:], two[1:], strict=True):
        np.testing.assert_allclose(o1, o2, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(r1, r2, rtol=1e-10)
        assert te1.tolist() == te2.tolist() and tr1.tolist() == tr2.tolist()
        np.testing.assert_allclose(i1["jac_state"], i2["jac_state"], rtol=1e-10, atol=1e-14)
        assert i1["jac_finite"].tolist() == i2["jac_finite"].tolist()
        if "final_info" in i1:
            assert i1["final_info"]["episode_steps"].tolist() == (
                i2["final_info"]["episode_steps"].tolist()
            )
    assert not one[3][4]["jac_finite"][3] and one[3][2][3]  # the NaN step: flagged, terminated


def test_worker_errors_are_typed():
    # The batch of the test above: the workers load what it compiled.
    vec = jacwrap.make_vec("CartpoleBalance", 4, workers=2, episode_length=3)
    vec.reset(seed=0)
    with pytest.raises(jacwrap.ActionError, match=r"\(4, 1\)"):
        vec.step(np.zeros((3, 1)))
    vec.close()
    with pytest.raises(ValueError, match="workers"):
        jacwrap.make_vec("CartpoleBalance", 2, workers=3)


def test_a_script_without_a_main_guard_is_told_what_to_add(tmp_path):
    """Workers are spawned: they import the user's script again, which starts workers again."""
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text("import jacwrap\njacwrap.make_vec('CartpoleBalance', 4, workers=2)\n")
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode != 0
    assert "WorkerError" in proc.stderr and "if __name__ == '__main__':" in proc.stderr
