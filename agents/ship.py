"""Ship a trained policy only if it beats the shipped one on the same evaluation.

    python -m agents.ship CheetahRun runs/CheetahRun/best.zip --episodes 100 [--seed 1000]

Evaluates the candidate and ``agents/policies/<ENV>.zip`` on the same ``--episodes`` episodes
(stochastic, each with its own colored noise, as recordings roll them out; ``--seed`` fixed)
and prints mean, std and standard error of both. With ``--apply`` and a higher candidate
mean, copies the candidate over the shipped zip and records its evaluation in
``agents/policies/returns.json`` (the table the slow test checks). It also prints the
candidate run's settings (``args.json`` beside it) that differ from its trainer's defaults:
put those in ``agents/presets.py`` so that ``just train ENV`` repeats the shipped run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from agents.evaluate import evaluate, format_returns, standard_error

POLICY_DIR = Path(__file__).resolve().parent / "policies"
RETURNS = POLICY_DIR / "returns.json"


def run_settings(candidate: Path) -> dict:
    """The candidate run's ``args.json`` fields that differ from its trainer's defaults."""
    import dataclasses

    found = [d / "args.json" for d in (candidate.parent, candidate.parent.parent)]
    found = [f for f in found if f.exists()]  # best.zip beside it, checkpoints/ one level down
    if not found:
        return {}
    args_file = found[0]
    args = json.loads(args_file.read_text())
    if "unroll_length" in args:
        from agents.train_brax import Args

        trainer = "brax"
    else:
        from agents.train_ppo import Args

        trainer = "sb3"
    defaults = dataclasses.asdict(Args())
    skip = {"env", "out", "ship", "progress"}
    own = {k: v for k, v in args.items() if k not in skip and defaults.get(k) != v}
    return {"trainer": trainer, **own}


def summary(returns) -> dict:
    return {
        "mean": round(float(returns.mean()), 2),
        "std": round(float(returns.std()), 2),
        "sem": round(standard_error(returns), 2),
        "episodes": len(returns),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("env")
    p.add_argument("candidate", type=Path)
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--apply", action="store_true", help="replace the shipped zip if better")
    a = p.parse_args(argv)
    shipped = POLICY_DIR / f"{a.env}.zip"
    rows = {}
    for name, path in (("candidate", a.candidate), ("shipped", shipped)):
        if not path.exists():
            continue
        returns, desc = evaluate(str(path), a.env, a.episodes, a.seed)
        rows[name] = returns
        print(
            f"{a.env} {name} {desc}: {format_returns(returns)}, "
            f"{a.episodes} episodes, seed {a.seed}"
        )
    print("settings:", json.dumps(run_settings(a.candidate)))
    better = "shipped" not in rows or rows["candidate"].mean() > rows["shipped"].mean()
    print("candidate is better" if better else "shipped stays (candidate is not better)")
    if a.apply and better:
        shutil.copy(a.candidate, shipped)
        table = json.loads(RETURNS.read_text())
        table[a.env] = {**summary(rows["candidate"]), "seed": a.seed}
        RETURNS.write_text(json.dumps(table, indent=2) + "\n")
        print(f"shipped {a.candidate} -> {shipped}; {RETURNS.name} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
