"""Data-oblivious critical layers: CKA's δ profile of generic text beside each suite's
(docs/method.md#data-oblivious-critical-layers).

Each profile is δ_ℓ (:func:`layertracer.methods.cka.core.delta`) of one set of
representations: the text windows', or the prompts of one suite. Two profiles are compared
by the Spearman correlation over the blocks ``1..L`` where both are finite; its 95%
interval is the percentile interval of the Spearman over ``B`` resamples that draw the
suite's prompts and the text windows with replacement, independently (one seeded
generator: suites in order, each resample a suite's weights then the text's).
"""

from __future__ import annotations

import math

import numpy as np

from layertracer.methods.cka.core import critical_layers, grams_from_rows, neighbour_delta
from layertracer.methods.metrics import spearman

TOP = 3  # critical layers compared between profiles


def grams_of(reps: np.ndarray) -> list[np.ndarray]:
    """Per layer the Gram matrix of the centred representations. ``[n, L+1, d] -> L+1 ×
    [n, n]``"""
    return grams_from_rows(dict(enumerate(reps)))


def profile(
    grams: list[np.ndarray], estimator: str, weights: np.ndarray | None = None
) -> np.ndarray:
    """δ_ℓ of a set of representations, of each weighted sample of it (``weights``
    ``[B, n]``; ``None``: the set itself). ``-> [B, L+1]`` (``[1, L+1]`` for the set)"""
    if weights is None:
        weights = np.ones((1, grams[0].shape[0]))
    with np.errstate(invalid="ignore", divide="ignore"):  # n < 2: NaN, quietly
        return neighbour_delta(grams, estimator, weights)


def block_spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman of two δ profiles ``[L+1]`` over blocks ``1..L`` where both are finite, in
    [−1, 1]; NaN with fewer than 3 such blocks."""
    both = np.isfinite(a) & np.isfinite(b)
    both[0] = False
    return spearman(a[both], b[both]) if both.sum() >= 3 else math.nan


def resample(rng: np.random.Generator, n: int, samples: int) -> np.ndarray:
    """Bootstrap weights: how often each of ``n`` units is drawn, per sample. ``[B, n]``"""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=samples).astype(np.float64)


def percentile_interval(draws: np.ndarray) -> list[float] | None:
    """The 2.5 and 97.5 percentiles of the finite draws; ``None`` without one."""
    finite = draws[np.isfinite(draws)]
    if not len(finite):
        return None
    low, high = np.percentile(finite, [2.5, 97.5])
    return [float(low), float(high)]


def compare(
    suite: list[np.ndarray],
    text: list[np.ndarray],
    estimator: str,
    samples: int,
    rng: np.random.Generator,
) -> dict[str, object]:
    """One suite's δ profile beside the text's.

    Args:
        suite: The suite's per-layer Gram matrices ``[n, n]``.
        text: The text windows' per-layer Gram matrices ``[m, m]``.
        estimator: ``biased`` or ``debiased``.
        samples: Bootstrap resamples (0: no interval).
        rng: The resampling generator.

    Returns:
        ``items``, ``delta`` ``[L+1]``, ``critical_layers`` (the :data:`TOP` smallest δ),
        ``spearman`` with the text (in [−1, 1]), its ``spearman_ci95``, ``same_layer``
        (the smallest-δ layers agree) and ``shared_top`` (how many of the :data:`TOP`
        critical layers both have).
    """
    mine, theirs = profile(suite, estimator)[0], profile(text, estimator)[0]
    interval = None
    if samples:
        a = profile(suite, estimator, resample(rng, len(suite[0]), samples))  # [B, L+1]
        b = profile(text, estimator, resample(rng, len(text[0]), samples))
        interval = percentile_interval(
            np.array([block_spearman(x, y) for x, y in zip(a, b, strict=True)])
        )
    ranked, reference = critical_layers(mine), critical_layers(theirs)
    return {
        "items": int(suite[0].shape[0]),
        "delta": mine.tolist(),
        "critical_layers": ranked[:TOP],
        "spearman": block_spearman(mine, theirs),
        "spearman_ci95": interval,
        "same_layer": bool(ranked and reference and ranked[0] == reference[0]),
        "shared_top": len(set(ranked[:TOP]) & set(reference[:TOP])),
    }
