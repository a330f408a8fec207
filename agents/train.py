"""``just train ENV``: train ``ENV`` with its preset's trainer and ship the best checkpoint.

    python -m agents.train CheetahRun [overrides...]   # e.g. --total-timesteps 500000

The preset (``agents/presets.py``) names the trainer, ``sb3`` (:mod:`agents.train_ppo`,
colored-noise SB3 PPO) or ``brax`` (:mod:`agents.train_brax`, Brax PPO over MJX, exported to
an SB3 zip), and its settings; the run writes to ``runs/<ENV>`` and copies ``best.zip`` to
``agents/policies/<ENV>.zip``. Options after ``ENV`` override the preset's.
"""

from __future__ import annotations

import importlib
import sys

from .presets import TRAINERS, preset_argv, trainer


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    env, overrides = argv[0], argv[1:]
    # TRAINERS names the modules as run from the repository (agents.*); load the one of this
    # package, which is jacwrap.agents.* where jacwrap is installed.
    leaf = TRAINERS[trainer(env)].rpartition(".")[2]
    module = importlib.import_module(f"{__package__}.{leaf}")
    return module.main(preset_argv(env) + ["--out", f"runs/{env}", "--ship", *overrides])


if __name__ == "__main__":
    sys.exit(main())
