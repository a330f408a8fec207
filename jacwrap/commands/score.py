"""``jacwrap score FILE... --model MODULE:FUNCTION``: the Q4 metrics of your dynamics model.

The model is s' = f(s, a): a JAX function, a ``torch.nn.Module`` instance, or a model saved
by ``jacwrap fit`` (``--model path/to/model.npz``). MODULE is an importable module
(``mypkg.models``, found from the current directory too) or a file (``models/wm.py``);
FUNCTION names the function or module object in it (``wm.predict`` for an attribute of an
attribute). By default f takes batches (B, n), (B, m) -> (B, n); ``--per-sample`` for
f(s, a) on one sample. Prints the model's Jacobian sparsity at 1e-6 next to the ground
truth's and the next-state and Jacobian errors (overall and on the recorded zero / non-zero
elements), in z-scored units unless ``--original-units``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="score a dynamics model's next states and Jacobians against recordings",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="recordings (.jwr) of one env")
    p.add_argument("--model", required=True, metavar="MODULE:FUNCTION", help="see above")
    p.add_argument("--framework", choices=("auto", "jax", "torch", "jacwrap"), default="auto")
    p.add_argument("--per-sample", action="store_true", help="f takes one (s, a), not a batch")
    p.add_argument("--mode", choices=("auto", "fwd", "rev"), default="auto", help="autodiff mode")
    p.add_argument("--original-units", action="store_true", help="do not z-score")
    p.add_argument("--threshold", type=float, default=None, help="model's zero threshold (1e-6)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--max-samples", type=int, default=None, help="the first N steps only")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--out", metavar="PATH", help="write the report to PATH")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jacwrap.data.model_loading import load_model
    from jacwrap.data.scoring import score
    from jacwrap.sparsity import LEARNED_THRESHOLD

    model = load_model(args.model)
    report = score(
        model,
        args.files,
        framework=args.framework,
        batched=not args.per_sample,
        mode=args.mode,
        normalize=not args.original_units,
        threshold=LEARNED_THRESHOLD if args.threshold is None else args.threshold,
        batch_size=args.batch_size,
        max_samples=args.max_samples,
    )
    report.model = args.model
    text = report.to_json() + "\n" if args.format == "json" else report.to_text()
    if args.out:
        Path(args.out).write_text(text)
        print(args.out)
    else:
        sys.stdout.write(text)
    return 0
