"""2-D t-SNE embedding of (s, a, s') tuples (docs/SCIENCE.md, Q2), with scikit-learn.

Each feature is z-scored first (ours: states, actions and velocities have very different
scales; constant features become 0). The perplexity is the paper's 50, lowered to
``(k - 1) / 3`` when fewer than 151 samples are given (scikit-learn requires it to be well
below the number of samples); the value used is returned so that figures can state it.
The embedding runs on one thread by default: scikit-learn's OpenMP threads spin against
each other and other processes on a busy small machine (2000 samples took 60 s on two
threads and 21 s on one, on this project's shared 2-core machine).
"""

from __future__ import annotations

import numpy as np

PAPER_PERPLEXITY = 50.0
MIN_SAMPLES = 5


def standardise(x: np.ndarray) -> np.ndarray:
    """Z-score each column; columns with zero spread become 0."""
    x = np.asarray(x, np.float64)
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    return np.divide(x - mu, sd, out=np.zeros_like(x), where=sd > 0)


def effective_perplexity(k: int, perplexity: float = PAPER_PERPLEXITY) -> float:
    """Perplexity actually used for ``k`` samples: ``min(perplexity, (k - 1) / 3)``."""
    return float(min(perplexity, (k - 1) / 3.0))


def tsne_embed(
    x: np.ndarray, perplexity: float = PAPER_PERPLEXITY, seed: int = 0, threads: int | None = 1
) -> tuple[np.ndarray, float]:
    """Embed rows of ``x`` (k, d) in 2-D; returns (xy (k, 2), perplexity used).

    ``threads`` caps scikit-learn's native thread pools (None: no cap).
    """
    from jacwrap._extras import require

    require("analysis", "sklearn")
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    k = x.shape[0]
    if k < MIN_SAMPLES:
        raise ValueError(f"t-SNE needs at least {MIN_SAMPLES} samples, got {k}")
    p = effective_perplexity(k, perplexity)
    tsne = TSNE(n_components=2, perplexity=p, init="pca", learning_rate="auto", random_state=seed)
    with threadpool_limits(threads):
        xy = tsne.fit_transform(standardise(x))
    return xy, p
