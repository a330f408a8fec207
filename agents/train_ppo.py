"""Train a PPO agent with colored-noise exploration on a jacwrap task (CleanRL-style, one file).

    python -m agents.train_ppo --env CartpoleBalance --total-timesteps 300000 --beta 1
    python -m agents.train_ppo --preset CartpoleBalance   # shipped settings, agents/presets.py

Stable-Baselines3 PPO on ``jacwrap.make_sb3(env, num_envs, jacobians=False)`` (no Jacobians:
training speed). The Gaussian policy's sampling noise is a 1/f^beta sequence per env and
action dimension (``agents.colored_noise``; beta = 0 is white noise). Defaults are the
paper's settings (docs/SCIENCE.md, "How the paper collected data": lr 5e-5, 128 envs, n_steps 64, batch 64, 10 epochs, ...).

Writes to ``--out`` (default ``runs/<env>-b<beta>-s<seed>``): ``progress.csv`` (SB3 training
metrics), ``eval.csv`` (step, wall seconds, mean/std return of the stochastic policy with its
colored noise over ``eval_episodes`` episodes), ``checkpoints/step_<N>.zip``, ``best.zip``
(best evaluation so far), ``final.zip`` and ``args.json``. Saved models load with plain
``PPO.load``; their ``colored_noise_beta`` attribute tells :mod:`jacwrap.policies` which noise
to roll them out with. ``--ship`` copies ``best.zip`` to ``agents/policies/<env>.zip``.

``--norm-obs`` / ``--norm-reward`` train through SB3's ``VecNormalize`` (running mean and
variance of observations; rewards divided by the running std of the discounted return). The
reward scale only matters during training. The observation statistics are folded into the
first linear layers of the saved policy (``agents.normalization``), so every saved model
acts on raw observations and stays a plain ``PPO`` zip: nothing extra to ship or load.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import jacwrap
from jacwrap.policies import NOISE_BETA_ATTR, SB3Policy

from .cli_args import parse_dataclass
from .colored_noise import ColoredNoisePolicy, NoiseEpisodeCallback
from .evaluate import episode_returns
from .normalization import folded_observation_norm

POLICY_DIR = Path(__file__).resolve().parent / "policies"


@dataclass
class Args:
    env: str = "CartpoleBalance"
    total_timesteps: int = 2_050_000
    num_envs: int = 128
    n_steps: int = 64
    batch_size: int = 64
    n_epochs: int = 10
    learning_rate: float = 5e-5
    lr_schedule: str = "constant"  # or "linear": decays to 0 over the run
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    log_std_init: float = 0.0
    beta: float = 1.0  # colored-noise exponent: 0 white, 1 pink, 2 red
    seed: int = 1
    eval_freq: int = 50_000  # env steps between evaluations (and checkpoints)
    eval_episodes: int = 10
    out: str = ""  # default runs/<env>-b<beta>-s<seed>
    ship: bool = False  # copy best.zip to agents/policies/<env>.zip at the end
    progress: bool = True
    threads: int = 1
    norm_obs: bool = False  # running observation normalisation, folded into the saved policy
    norm_reward: bool = False  # scale rewards by a running std of the discounted return


def parse_args(argv: list[str] | None = None) -> Args:
    """Every field of :class:`Args` as a ``--kebab-case`` option."""
    return parse_dataclass(Args, argv, __doc__.splitlines()[0])


def learning_rate(args: Args):
    """SB3 learning rate: a constant, or a function of the remaining progress (1 -> 0)."""
    if args.lr_schedule == "constant":
        return args.learning_rate
    if args.lr_schedule == "linear":
        lr = args.learning_rate
        return lambda remaining: lr * remaining
    raise ValueError(f"--lr-schedule must be constant or linear, got {args.lr_schedule!r}")


def save_portable(model, path: Path, beta: float) -> None:
    """Save ``model`` loadable by plain ``PPO.load``: stock policy class, beta as an attribute."""
    from stable_baselines3.common.policies import ActorCriticPolicy

    cls, kwargs = model.policy_class, model.policy_kwargs
    model.policy_class = ActorCriticPolicy
    model.policy_kwargs = {k: v for k, v in kwargs.items() if not k.startswith("noise_")}
    setattr(model, NOISE_BETA_ATTR, float(beta))
    try:
        model.save(str(path))
    finally:
        model.policy_class, model.policy_kwargs = cls, kwargs


def make_callback(args: Args, out: Path, eval_env):
    """Progress bar, periodic evaluation (stochastic policy, colored noise), checkpoints."""
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm import tqdm

    class TrainMonitor(BaseCallback):
        def _on_training_start(self) -> None:
            self.t0 = time.time()
            self.next_eval = args.eval_freq
            self.best = -np.inf
            self.last_eval = -1
            self.bar = tqdm(
                total=args.total_timesteps,
                disable=not args.progress,
                unit="step",
                mininterval=10,
                dynamic_ncols=True,
            )
            self.csv = open(out / "eval.csv", "w", newline="")  # noqa: SIM115 (open while training)
            self.writer = csv.writer(self.csv)
            self.writer.writerow(["step", "wall_s", "mean_return", "std_return", "train_return"])

        def _on_step(self) -> bool:
            self.bar.update(self.training_env.num_envs)
            if self.num_timesteps >= self.next_eval:
                self.next_eval += args.eval_freq
                self.evaluate()
            return True

        def evaluate(self) -> None:
            with folded_observation_norm(self.model):  # raw observations in and out
                self._evaluate()

        def _evaluate(self) -> None:
            self.last_eval = self.num_timesteps
            policy = SB3Policy(self.model, eval_env.env_info, beta=args.beta)
            r = episode_returns(policy, eval_env, seed=10_000 + self.num_timesteps)
            buf = self.model.ep_info_buffer
            train = float(np.mean([e["r"] for e in buf])) if buf else float("nan")
            wall = time.time() - self.t0
            self.writer.writerow(
                [self.num_timesteps, f"{wall:.1f}", f"{r.mean():.2f}", f"{r.std():.2f}", train]
            )
            self.csv.flush()
            self.bar.set_postfix(eval=f"{r.mean():.1f}", train=f"{train:.1f}")
            self.bar.write(
                f"step {self.num_timesteps}  {wall:.0f}s  eval {r.mean():.1f} +- {r.std():.1f}"
                f"  train {train:.1f}"
            )
            (out / "checkpoints").mkdir(exist_ok=True)
            save_portable(self.model, out / "checkpoints" / f"step_{self.num_timesteps}", args.beta)
            if r.mean() > self.best:
                self.best = r.mean()
                save_portable(self.model, out / "best", args.beta)

        def _on_training_end(self) -> None:
            if self.num_timesteps != self.last_eval:
                self.evaluate()
            self.bar.close()
            self.csv.close()

    return TrainMonitor()


def train(args: Args) -> Path:
    """Train, evaluate and save; returns the output folder."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.logger import configure

    torch.set_num_threads(args.threads)
    out = Path(args.out or f"runs/{args.env}-b{args.beta:g}-s{args.seed}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "args.json").write_text(json.dumps(dataclasses.asdict(args), indent=2))

    env = jacwrap.make_sb3(args.env, args.num_envs, jacobians=False)
    env.seed(args.seed)
    eval_env = jacwrap.make_sb3(args.env, args.eval_episodes, jacobians=False)
    vecnorm = None
    if args.norm_obs or args.norm_reward:
        from stable_baselines3.common.vec_env import VecNormalize

        # clip_obs=inf: the folded policy (raw observations in) then equals the trained one
        vecnorm = VecNormalize(
            env,
            norm_obs=args.norm_obs,
            norm_reward=args.norm_reward,
            clip_obs=np.inf,
            gamma=args.gamma,
        )
    model = PPO(
        ColoredNoisePolicy,
        vecnorm or env,
        learning_rate=learning_rate(args),
        n_steps=args.n_steps,
        batch_size=args.batch_size,
        n_epochs=args.n_epochs,
        gamma=args.gamma,
        gae_lambda=args.gae_lambda,
        clip_range=args.clip_range,
        ent_coef=args.ent_coef,
        vf_coef=args.vf_coef,
        max_grad_norm=args.max_grad_norm,
        policy_kwargs=dict(
            net_arch=list(args.net_arch),
            log_std_init=args.log_std_init,
            noise_beta=args.beta,
            noise_num_envs=args.num_envs,
            noise_seq_len=env.env_info.episode_length,
            noise_seed=args.seed,
        ),
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    model.set_logger(configure(str(out), ["csv"]))
    t0 = time.time()
    model.learn(
        args.total_timesteps,
        callback=CallbackList([NoiseEpisodeCallback(), make_callback(args, out, eval_env)]),
    )
    wall = time.time() - t0
    with folded_observation_norm(model):
        save_portable(model, out / "final", args.beta)
    (out / "summary.json").write_text(
        json.dumps({"timesteps": model.num_timesteps, "wall_s": round(wall, 1)}, indent=2)
    )
    if args.ship:
        POLICY_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / "best.zip", POLICY_DIR / f"{args.env}.zip")
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--preset"]:  # --preset ENV [overrides...]: agents/presets.py settings
        from .train import main as train_preset

        return train_preset(argv[1:])
    out = train(parse_args(argv))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
