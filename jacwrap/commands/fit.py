"""``jacwrap fit``: train MLP dynamics models on recordings with the five loss modes (Q4).

For every loss mode and seed it trains one model (docs/SCIENCE.md, Q4: 2x512 ELU, dropout 0.1, AdamW
lr 0.002 wd 0.001, batch 512, 10 % test split), writes ``<mode>[-residual]-seed<k>.json``
(the fit summary, docs/FIT.md) and ``.npz`` (the model) into ``--out`` (default: the
``<recording stem>.fits/`` folder next to the first recording, where ``jacwrap replay``
finds them) and finally the comparison figure ``comparison.png`` of every summary there.
"""

from __future__ import annotations

import argparse
import sys

MODE_CHOICES = (
    "state",
    "state-jacobian",
    "state-jacobian-l1",
    "state-jacobian-l1-regularizer",
    "state-jacobian-l1-sparse-only",
    "all",
)


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 512,512, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive, got {text!r}")
    return sizes


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="train MLP dynamics models on recordings (five loss modes) and write summaries",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="recording(s) (.jwr) of one env")
    p.add_argument(
        "--loss-mode",
        nargs="+",
        choices=MODE_CHOICES,
        default=["all"],
        metavar="MODE",
        help=f"one or more of {{{', '.join(MODE_CHOICES)}}} (default: all)",
    )
    p.add_argument("--seeds", type=int, default=1, help="number of seeds per mode (default 1)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds are S, S+1, ... (default 0)")
    p.add_argument("--epochs", type=int, default=100, help="default 100 (the paper's)")
    p.add_argument("--out", default=None, help="output folder (default: <recording>.fits/)")
    p.add_argument("--jacobian-weight", type=float, default=1.0, help="weight of the J term")
    p.add_argument("--residual", action="store_true", help="predict s' - s instead of s'")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate (0.002)")
    p.add_argument("--weight-decay", type=float, default=1e-3, help="AdamW weight decay (0.001)")
    p.add_argument("--hidden", type=_hidden, default=(512, 512), help="hidden sizes (512,512)")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument(
        "--jacobian-batch",
        type=int,
        default=None,
        help="compute the Jacobian term on K samples of each batch (default: all)",
    )
    p.add_argument("--max-samples", type=int, default=None, help="use the first N steps only")
    p.add_argument("--learned-threshold", type=float, default=None, help="default 1e-6")
    p.add_argument("--no-plot", action="store_true", help="skip comparison.png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jacwrap.fit.dataset import load_fit_data
    from jacwrap.fit.losses import LOSS_MODES
    from jacwrap.fit.summary import fits_dir, load_summaries, summary_stem, write_summary
    from jacwrap.fit.train import FitConfig, fit
    from jacwrap.sparsity import LEARNED_THRESHOLD

    if args.seeds < 1 or args.epochs < 0:
        raise SystemExit("jacwrap fit: --seeds must be >= 1 and --epochs >= 0")
    modes = [m for m in LOSS_MODES if m in args.loss_mode or "all" in args.loss_mode]
    out = Path(args.out) if args.out else fits_dir(args.files[0])
    data = load_fit_data(args.files, max_samples=args.max_samples)
    print(
        f"{data.env_name}: {len(data)} samples (n={data.n}, m={data.m}"
        f"{f', {data.dropped_nonfinite} non-finite dropped' if data.dropped_nonfinite else ''})"
        f" -> {out}",
        file=sys.stderr,
    )
    for mode in modes:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            config = FitConfig(
                loss_mode=mode,
                seed=seed,
                epochs=args.epochs,
                batch_size=args.batch_size,
                learning_rate=args.lr,
                weight_decay=args.weight_decay,
                hidden=tuple(args.hidden),
                dropout=args.dropout,
                jacobian_weight=args.jacobian_weight,
                jacobian_batch=args.jacobian_batch,
                residual=args.residual,
                learned_threshold=(
                    LEARNED_THRESHOLD if args.learned_threshold is None else args.learned_threshold
                ),
            )
            result = fit(data, config, callback=_progress(mode, seed, args.quiet))
            stem = summary_stem(mode, seed, args.residual)
            result.model.save(out / f"{stem}.npz")
            result.summary.raw["model_file"] = f"{stem}.npz"
            path = write_summary(result.summary, out / f"{stem}.json")
            s = result.summary
            print(
                f"{stem}: test MSE {s.test_mse:.3e}  sparsity {s.induced_sparsity:.2e} "
                f"(target {s.target_sparsity:.3f}, initial {s.initial_sparsity:.2e})  "
                f"{s.raw['timing']['wall_s']:.0f} s -> {path}"
            )
    if not args.no_plot:
        from jacwrap.fit.plot import plot_fit_comparison

        summaries = [s for s in load_summaries([out]) if s.env_name == data.env_name]
        fig = plot_fit_comparison(summaries, out / "comparison.png")
        print(f"comparison figure ({len(summaries)} fits): {fig}")
    return 0


class _progress:
    """tqdm progress over all batches of one fit: epoch, losses, samples/s."""

    def __init__(self, mode: str, seed: int, quiet: bool):
        self.desc, self.quiet, self.bar = f"{mode} seed {seed}", quiet, None

    def __call__(self, event: str, info: dict) -> None:
        if self.quiet:
            return
        if event == "start":
            from tqdm import tqdm

            self.epochs = info["epochs"]
            self.bar = tqdm(
                total=info["epochs"] * info["num_train"],
                desc=self.desc,
                unit="sample",
                unit_scale=True,
                file=sys.stderr,
            )
            self.bar.set_postfix_str(f"epoch 0/{self.epochs}")
        elif event == "batch" and self.bar is not None:
            self.bar.update(info["samples"])
        elif event == "epoch" and self.bar is not None:
            self.bar.set_postfix_str(
                f"epoch {info['epoch']}/{self.epochs} loss {info['train_loss']:.3e} "
                f"test {info['test_mse']:.3e} J-term {info['train_jacobian_term']:.2e} "
                f"{info['samples_per_s']:.0f} samples/s",
                refresh=True,
            )
        elif event == "end" and self.bar is not None:
            self.bar.close()
