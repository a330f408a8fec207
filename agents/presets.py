"""Per-task training settings used for the shipped policies (``just train ENV``).

The paper's settings (lr 5e-5, batch 64, about 2.05 M steps; the defaults of
:class:`agents.train_ppo.Args`) need about 45 min per task on this project's 2 shared CPU
cores (SB3 update of 1,280 minibatches per 8,192-step rollout), so the shipped agents use a
larger learning rate and minibatch (fewer, larger updates) and a per-task step budget.
Everything not listed here is the paper's (128 envs, n_steps 64, 10 epochs, gamma 0.99,
gae_lambda 0.95, clip 0.2, ent_coef 0, vf_coef 0.5, max_grad_norm 0.5). ``eval_episodes``
only decides which checkpoint is kept as ``best.zip`` (30 for tasks with bimodal returns).
"""

from __future__ import annotations

COMMON = {
    "learning_rate": 3e-4,
    "batch_size": 512,
    "beta": 0.5,
    "seed": 1,
    "eval_freq": 81_920,
}

BRAX_COMMON = {"seed": 1, "num_evals": 16, "eval_episodes": 30}
"""Brax presets (``"trainer": "brax"``): everything else is ``agents.train_brax.Args``'
defaults, SB3's shipped settings in Brax's terms (128 envs x 64 steps per update, 16
minibatches of 512, 10 epochs, lr 3e-4, gamma 0.99, GAE lambda 0.95, clip 0.2, ent 0,
grad norm 0.5, 64x64 tanh) plus Brax's running observation normalisation; white noise."""

#: 4 M steps through VecNormalize (observations and rewards) with a decaying learning rate:
#: the settings that lifted CheetahRun, SwimmerSwimmer6 and WalkerRun (agents/README.md).
NORMALISED_4M = {
    "total_timesteps": 4_014_080,
    "eval_episodes": 30,
    "eval_freq": 163_840,
    "norm_obs": True,
    "norm_reward": True,
    "lr_schedule": "linear",
    "seed": 2,
}

PRESETS: dict[str, dict] = {
    "CartpoleBalance": {"total_timesteps": 6_012_928, "eval_episodes": 30, "lr_schedule": "linear"},
    "ReacherHard": {
        "total_timesteps": 3_006_464,
        "eval_episodes": 30,
        "norm_obs": True,
        "norm_reward": True,
        "lr_schedule": "linear",
        "ent_coef": 0.005,
        "seed": 3,
    },
    "FingerSpin": {  # Brax with Playground's entropy bonus, reward scale and networks, gamma
        # 0.95, lr 1e-4: 917.0 over 100 episodes (paper 902.6; SB3, 8 M steps: 616.4)
        "trainer": "brax",
        "total_timesteps": 8_000_000,
        "num_evals": 20,
        "gamma": 0.95,
        "learning_rate": 1e-4,
        "ent_coef": 0.01,
        "reward_scaling": 10.0,
        "net_arch": [32, 32, 32, 32],
        "value_arch": [256, 256, 256, 256, 256],
        "activation": "swish",
    },
    "BallInCup": {  # Brax; gamma 0.95 as Playground's BallInCup (sparse catch reward); lr 1e-4:
        # 961.5 over 100 episodes (paper 960.0; lr 3e-4 peaked at 909-932, then fell)
        "trainer": "brax",
        "total_timesteps": 4_000_000,
        "gamma": 0.95,
        "learning_rate": 1e-4,
    },
    "FingerTurnEasy": {"total_timesteps": 2_498_560, "eval_episodes": 30},
    "SwimmerSwimmer6": {  # Brax, its defaults: 522.5 over 100 episodes (paper 650.4; SB3 with
        # NORMALISED_4M: 336.4; Brax seed 1, 6 M steps: 513.8)
        "trainer": "brax",
        "total_timesteps": 8_000_000,
        "num_evals": 20,
        "seed": 2,
    },
    "CheetahRun": NORMALISED_4M,  # 733.9 over 100 episodes, twice the paper's 351.8
    "WalkerRun": NORMALISED_4M,  # 404.3 over 100 episodes (was 261.5; paper 327.8)
}
"""Order = training order (cheapest first, the two exact targets first)."""


TRAINERS = {"sb3": "agents.train_ppo", "brax": "agents.train_brax"}
"""A preset's ``trainer`` (default ``sb3``) -> the module that trains it."""

COMMON_BY_TRAINER = {"sb3": COMMON, "brax": BRAX_COMMON}


def trainer(env: str) -> str:
    """``sb3`` or ``brax``: which trainer ``env``'s preset uses."""
    return PRESETS[env].get("trainer", "sb3")


def preset_argv(env: str) -> list[str]:
    """Command-line options of ``env``'s trainer (:func:`trainer`) for its preset."""
    own = {k: v for k, v in PRESETS[env].items() if k != "trainer"}
    settings = {**COMMON_BY_TRAINER[trainer(env)], **own, "env": env}
    argv: list[str] = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):  # argparse BooleanOptionalAction: --flag / --no-flag
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, (list, tuple)):  # nargs="+": --net-arch 32 32
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv
