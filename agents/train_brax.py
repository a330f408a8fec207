"""Train a PPO agent with Brax's JAX-native PPO over MJX (float32), saved as an SB3 PPO zip.

    python -m agents.train_brax --env CheetahRun --total-timesteps 3000000
    python -m agents.train --preset CheetahRun      # the shipped settings (agents/presets.py)

Brax's ``ppo.train`` runs rollouts, GAE and minibatch updates in one jitted loop (no
per-step Python: on this CPU it trains several times more env steps per CPU-second than
SB3, README). The policy is a **non-squashed** diagonal Gaussian with a state-independent
learned log-std (``distribution_type="normal"``, ``noise_std_type="log"``), the same family
as SB3's ``ActorCriticPolicy``; observations are normalised by Brax's running statistics.
Brax samples white noise (beta 0, one of the paper's four noise colours), so the saved
policies have ``colored_noise_beta = 0`` and roll out as ``clip(mean + std * white)``.

Float32: ``import jacwrap`` switches ``jax_enable_x64`` on for the Jacobians; this process
switches it off again before building its env (the training env is a float32 MJX model in
this process only; evaluations and recordings use jacwrap's float64 env). Episodes auto-reset
with a fresh ``env.reset`` (``full_reset=True``), so every episode draws new initial states
and targets as jacwrap's envs do (Playground's default resets to a cached first state).

Writes to ``--out`` (default ``runs/<env>-brax-s<seed>``): ``eval.csv`` (step, wall and CPU
seconds, mean/std return of Brax's stochastic evaluation on ``eval_episodes`` float32
episodes), ``checkpoints/step_<N>.zip``, ``best.zip``, ``final.zip`` (SB3 zips, see
:mod:`agents.brax_export`), ``args.json``, ``summary.json``. ``--ship`` copies ``best.zip``
to ``agents/policies/<env>.zip``.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cli_args import parse_dataclass

POLICY_DIR = Path(__file__).resolve().parent / "policies"


@dataclass
class Args:
    env: str = "CartpoleBalance"
    total_timesteps: int = 3_000_000
    num_envs: int = 128
    unroll_length: int = 64
    batch_size: int = 8  # sequences of unroll_length per minibatch (8 x 64 = 512 samples)
    num_minibatches: int = 16  # 16 x 512 = 8,192 samples per update = 128 envs x 64 steps
    num_updates_per_batch: int = 10  # epochs over each batch
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5
    reward_scaling: float = 1.0
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    value_arch: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"  # tanh, swish, relu or elu (agents.brax_export.ACTIVATIONS)
    normalize_observations: bool = True
    full_reset: bool = True  # fresh env.reset at every episode end
    seed: int = 1
    num_evals: int = 20  # evaluations (and checkpoints) over the run, the first at step 0
    eval_episodes: int = 30
    out: str = ""  # default runs/<env>-brax-s<seed>
    ship: bool = False
    progress: bool = True


def parse_args(argv: list[str] | None = None) -> Args:
    return parse_dataclass(Args, argv, __doc__.splitlines()[0])


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def setup_jax():
    """jacwrap's XLA flags and compile cache, then float32 for the whole process.

    Process-global: call it only in a process that trains (``python -m agents.train_brax``),
    never in one that also computes jacwrap's float64 Jacobians.
    """
    import jax

    import jacwrap  # noqa: F401  (configure_jax: CPU flags, cache; also x64, undone below)

    jax.config.update("jax_enable_x64", False)
    if not hasattr(jax, "device_put_replicated"):
        # Brax 0.14.2 still calls jax.device_put_replicated, removed from the public API in
        # JAX 0.10 (pyproject pins jax 0.10). Same function, its old public name.
        from jax._src import api

        jax.device_put_replicated = api.device_put_replicated
    return jax


def env_spaces(env, env_name: str):
    """jacwrap's EnvInfo and SB3 spaces of a Playground env (what its SB3 envs expose)."""
    from jacwrap.envs import describe
    from jacwrap.gym_env import action_space, observation_space

    info = describe(env, env_name)
    return info, observation_space(env.observation_size), action_space(info)


def train(args: Args) -> Path:
    """Train, checkpoint (SB3 zips) and save; returns the output folder."""
    jax = setup_jax()
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo
    from flax import linen
    from mujoco_playground import registry, wrapper

    from .brax_export import save_sb3

    out = Path(args.out or f"runs/{args.env}-brax-s{args.seed}")
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    (out / "args.json").write_text(json.dumps(dataclasses.asdict(args), indent=2))
    env = registry.load(args.env, config_overrides={"impl": "jax"})
    assert not jax.config.jax_enable_x64
    info, obs_space, act_space = env_spaces(env, args.env)
    network_factory = functools.partial(
        ppo_networks.make_ppo_networks,
        policy_hidden_layer_sizes=tuple(args.net_arch),
        value_hidden_layer_sizes=tuple(args.value_arch),
        activation=getattr(linen, args.activation),
        distribution_type="normal",
        noise_std_type="log",
        init_noise_std=1.0,
    )
    save = functools.partial(
        save_sb3,
        observation_space=obs_space,
        action_space=act_space,
        activation=args.activation,
        beta=0.0,
    )
    state = {"params": None, "best": -np.inf}
    t0, c0 = time.time(), cpu_seconds()
    log = open(out / "eval.csv", "w", newline="")  # noqa: SIM115 (open while training)
    writer = csv.writer(log)
    writer.writerow(["step", "wall_s", "cpu_s", "mean_return", "std_return"])

    def on_params(step, make_policy, params):
        state["params"] = params

    def on_eval(step, metrics):
        mean = float(metrics["eval/episode_reward"])
        std = float(metrics.get("eval/episode_reward_std", np.nan))
        wall, cpu = time.time() - t0, cpu_seconds() - c0
        writer.writerow([step, f"{wall:.1f}", f"{cpu:.1f}", f"{mean:.2f}", f"{std:.2f}"])
        log.flush()
        if args.progress:
            print(f"step {step}  {wall:.0f}s  cpu {cpu:.0f}s  eval {mean:.1f} +- {std:.1f}")
            sys.stdout.flush()
        if state["params"] is None:  # Brax evaluates the initial policy before handing it out
            return
        save(state["params"], out / "checkpoints" / f"step_{step}")
        if mean > state["best"]:
            state["best"] = mean
            save(state["params"], out / "best")

    _, params, _ = ppo.train(
        environment=env,
        num_timesteps=args.total_timesteps,
        num_envs=args.num_envs,
        unroll_length=args.unroll_length,
        batch_size=args.batch_size,
        num_minibatches=args.num_minibatches,
        num_updates_per_batch=args.num_updates_per_batch,
        episode_length=info.episode_length,
        learning_rate=args.learning_rate,
        discounting=args.gamma,
        gae_lambda=args.gae_lambda,
        clipping_epsilon=args.clip_range,
        entropy_cost=args.ent_coef,
        max_grad_norm=args.max_grad_norm,
        reward_scaling=args.reward_scaling,
        normalize_observations=args.normalize_observations,
        network_factory=network_factory,
        wrap_env_fn=functools.partial(wrapper.wrap_for_brax_training, full_reset=args.full_reset),
        num_evals=args.num_evals,
        num_eval_envs=args.eval_episodes,
        seed=args.seed,
        policy_params_fn=on_params,
        progress_fn=on_eval,
    )
    log.close()
    save(params, out / "final")
    summary = {
        "timesteps": args.total_timesteps,
        "wall_s": round(time.time() - t0, 1),
        "cpu_s": round(cpu_seconds() - c0, 1),
        "best_eval": state["best"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if args.ship:
        POLICY_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / "best.zip", POLICY_DIR / f"{args.env}.zip")
    return out


def main(argv: list[str] | None = None) -> int:
    out = train(parse_args(argv))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
