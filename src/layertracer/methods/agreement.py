"""Agreement between the per-layer criteria of "critical layers" (docs/method.md#agreement).

Every criterion (one registered object each, :mod:`layertracer.results.criteria`) is a
curve over the ``L+1`` layer states where **higher = more critical**, built from per-prompt
values where they exist (NaN = does not apply at that layer), or a run-level curve with a
resampler of its own (CKA's ``1 − δ_ℓ``, from the Gram matrices).

For each pair: Spearman and Pearson correlation over the layers where both curves are
finite, and the distance between their chosen layers (each curve's argmax, lowest layer
on ties). 95% confidence intervals: BCa bootstrap over prompts (resample prompt indices
with replacement from a seeded generator, recompute both curves; the acceleration from the
leave-one-prompt-out values, :func:`layertracer.methods.metrics.bca_interval`). Where every
resample falls on one side of the point estimate (a discrete statistic, e.g. a layer
distance no resample reaches) BCa is undefined: the interval is ``null`` and the statistic
is listed in the pair's ``degenerate``. CKA is
resampled from the per-layer Gram matrices when the run kept them (``n ≤``
:data:`CKA_BOOTSTRAP_MAX_N`), else held fixed (``bootstrap.cka`` says which).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from layertracer.methods.cka.core import neighbour_delta
from layertracer.methods.metrics import F64, Floating, bca_interval, pearson, spearman

STATS = ("spearman", "pearson", "layer_distance")
CKA_BOOTSTRAP_MAX_N = 500  # larger runs hold CKA fixed: each resample costs (L+1)·n²

Curves = Callable[[F64], F64]  # prompt weights [B, N] -> curves [B, L+1]


@dataclass(frozen=True)
class Measured:
    """A criterion measured in a run (the criteria themselves:
    :mod:`layertracer.results.criteria`).

    Attributes:
        curves: Its curves over weighted samples of the prompts (the bootstrap).
        curve: Its run-level curve ``[L+1]`` (the mean over prompts; CKA: the run's
            ``1 − δ``), which layer removal ranks blocks by.
        bootstrap: How a run-level criterion enters the bootstrap (``resampled`` or
            ``fixed``, listed in ``agreement.bootstrap``); ``None`` for per-prompt values.
    """

    curves: Curves
    curve: F64
    bootstrap: str | None = None

    @classmethod
    def of_prompts(cls, values: Floating) -> Measured:
        """A criterion given by per-prompt values ``[N, L+1]``."""
        curves = prompt_criterion(values)
        return cls(curves, curves(np.ones((1, len(values))))[0])


def particle_onehot(layers: list[int | None], num_states: int) -> F64:
    """The ``particles`` criterion per prompt: 1 at the prompt's particle layer, else 0;
    layer 0 NaN (a particle is never 0). ``-> [N, L+1]``"""
    onehot = np.zeros((len(layers), num_states))
    for n, layer in enumerate(layers):
        if layer is not None:
            onehot[n, layer] = 1.0
    onehot[:, 0] = math.nan
    return onehot


def lens_slope(target_prob: Floating) -> F64:
    """The ``lens_slope`` criterion per prompt: ``P[ℓ] − P[ℓ−1]``, layer 0 NaN.
    ``[N, L+1] -> [N, L+1]``"""
    probs = np.asarray(target_prob, dtype=float)
    slope = np.full_like(probs, math.nan)
    slope[:, 1:] = np.diff(probs, axis=1)
    return slope


def prompt_criterion(values: Floating) -> Curves:
    """A per-prompt criterion's curves over weighted samples of the prompts (``weights[b, p]``:
    how often prompt ``p`` is in sample ``b``): the weighted mean of the finite entries."""
    finite = np.isfinite(values).astype(float)  # [N, L+1]
    filled = np.where(finite > 0, values, 0.0)

    def curves(weights: F64) -> F64:
        count = weights @ finite  # [B, L+1]
        return np.where(count > 0, (weights @ filled) / np.where(count > 0, count, 1), math.nan)

    return curves


def cka_criterion(delta: Sequence[float | None], grams: list[F64] | None, estimator: str) -> Curves:
    """``1 − δ_ℓ`` (layer 0 NaN): recomputed for each weighted sample from the Gram
    matrices when given, else the run's δ for every sample (held fixed)."""

    def curve(deltas: F64) -> F64:
        out = 1.0 - np.asarray(deltas, dtype=float)
        out[..., 0] = math.nan
        return out

    fixed = curve(np.array([math.nan if d is None else d for d in delta], dtype=float))
    if grams is None:
        return lambda weights: np.tile(fixed, (len(weights), 1))
    return lambda weights: curve(neighbour_delta(grams, estimator, weights))


def chosen_layer(curve: F64) -> int | None:
    """The most critical layer: argmax over finite entries (lowest on ties)."""
    finite = np.isfinite(curve)
    return int(np.argmax(np.where(finite, curve, -np.inf))) if finite.any() else None


def compare(a: F64, b: F64) -> tuple[float, float, float]:
    """Spearman, Pearson (over layers where both are finite) and chosen-layer distance.

    Returns:
        ``(spearman in [-1, 1], pearson in [-1, 1], distance in 0..L)``; NaN where
        undefined (fewer than 3 common layers, a constant curve, no finite entry).
    """
    both = np.isfinite(a) & np.isfinite(b)
    rho = r = math.nan
    if both.sum() >= 3:
        rho, r = spearman(a[both], b[both]), pearson(a[both], b[both])
    la, lb = chosen_layer(a), chosen_layer(b)
    return rho, r, math.nan if la is None or lb is None else float(abs(la - lb))


def compare_rows(a: F64, b: F64) -> tuple[F64, ...]:
    """:func:`compare` of many curve pairs at once (the bootstrap). ``[B, L+1] x2 -> 3 × [B]``

    Same statistics as :func:`layertracer.methods.metrics.spearman` / ``pearson`` (average ranks on
    ties, NaN for a constant input), vectorised over rows that share their finite layers.
    """
    rho, r = np.full(len(a), math.nan), np.full(len(a), math.nan)
    both = np.isfinite(a) & np.isfinite(b)  # [B, L+1]
    patterns, group = np.unique(both, axis=0, return_inverse=True)
    for g, keep in enumerate(patterns):
        rows = np.flatnonzero(group.reshape(-1) == g)
        if keep.sum() >= 3:
            x, y = a[np.ix_(rows, keep)], b[np.ix_(rows, keep)]
            rho[rows] = _pearson_rows(_ranks_rows(x), _ranks_rows(y))
            r[rows] = _pearson_rows(x, y)
    dist = np.abs(_argmax_rows(a) - _argmax_rows(b))
    return rho, r, dist


def _argmax_rows(v: F64) -> F64:
    """:func:`chosen_layer` per row, NaN for a row without finite entries. ``[B, m] -> [B]``"""
    finite = np.isfinite(v)
    best = np.argmax(np.where(finite, v, -np.inf), axis=1).astype(float)
    return np.where(finite.any(axis=1), best, math.nan)


def _ranks_rows(v: F64) -> F64:
    """0-based ranks along each row, ties given their average rank. ``[B, m] -> [B, m]``"""
    order = np.argsort(v, axis=1, kind="stable")
    ordered = np.take_along_axis(v, order, axis=1)
    m = v.shape[1]
    pos = np.broadcast_to(np.arange(m), v.shape)
    starts = np.ones(v.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones(v.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, pos, m)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(v.shape)
    np.put_along_axis(ranks, order, (first + last) / 2.0, axis=1)
    return ranks


def _pearson_rows(x: F64, y: F64) -> F64:
    """Pearson correlation of each row pair; NaN where a row is constant. ``-> [B]``"""
    constant = (np.ptp(x, axis=1) == 0) | (np.ptp(y, axis=1) == 0)
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    denom = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (x * y).sum(axis=1) / denom
    return np.where(constant | ~(denom > 0), math.nan, out)


def resample_weights(count: int, samples: int, seed: int) -> F64:
    """Bootstrap resamples as multiplicities: ``out[b, p]`` = how often prompt ``p`` is drawn
    in resample ``b`` (``count`` draws with replacement, ``default_rng(seed)``). ``[B, N]``"""
    idx = np.random.default_rng(seed).integers(0, count, (samples, count))
    weights = np.zeros((samples, count))
    np.add.at(weights, (np.arange(samples)[:, None], idx), 1.0)
    return weights


def measure(criteria: dict[str, Curves], count: int, samples: int, seed: int) -> dict[str, Any]:
    """Pairwise agreement of the criteria over ``count`` prompts, with bootstrap CIs.

    Args:
        criteria: Name -> curves of weighted prompt samples, in the order to report.
        count: Number of prompts ``N``.
        samples: Bootstrap resamples (0: no intervals).
        seed: Seed of ``numpy.random.default_rng`` drawing the resamples.

    Returns:
        ``curves``, ``chosen_layers`` and ``pairs`` (see ``schema.AgreementSection``).
    """
    names = list(criteria)
    curves = {name: criteria[name](np.ones((1, count)))[0] for name in names}
    weights = resample_weights(count, samples, seed)  # [samples, N]
    boot = {name: criteria[name](weights) for name in names}  # [samples, L+1] each
    leave_one_out = np.ones((count, count)) - np.eye(count)  # [N, N]
    jack = {name: criteria[name](leave_one_out) for name in names} if samples else {}
    rows: list[dict[str, Any]] = []
    for a, b in combinations(names, 2):
        points = compare(curves[a], curves[b])
        draws = compare_rows(boot[a], boot[b])
        jacks = compare_rows(jack[a], jack[b]) if samples else (None,) * 3
        degenerate: list[str] = []
        row: dict[str, Any] = {"a": a, "b": b, "degenerate": degenerate}
        for stat, point, draw, jackknife in zip(STATS, points, draws, jacks, strict=True):
            interval = (
                bca_interval(draw, point, jackknife) if samples and jackknife is not None else None
            )
            if samples and interval is None and np.isfinite(draw).any() and math.isfinite(point):
                degenerate.append(stat)  # every resample on one side of the point
            row.update({stat: point, f"{stat}_ci95": interval})
        row["layers"] = int((np.isfinite(curves[a]) & np.isfinite(curves[b])).sum())
        rows.append(row)
    return {
        "criteria": names,
        "curves": {name: curve.tolist() for name, curve in curves.items()},
        "chosen_layers": {name: chosen_layer(curve) for name, curve in curves.items()},
        "pairs": rows,
    }


def agreement_section(
    criteria: dict[str, Measured], count: int, samples: int, seed: int
) -> dict[str, Any]:
    """The ``agreement`` results section.

    Args:
        criteria: Name -> the criterion measured in the run (higher = more critical), in
            the order of the registry (:func:`layertracer.results.criteria.measure_all`).
        count: Number of prompts ``N``.
        samples: Bootstrap resamples.
        seed: Bootstrap seed.
    """
    boot: dict[str, Any] = {"samples": samples, "seed": seed, "unit": "prompts", "ci": "BCa 95%"}
    boot.update({name: m.bootstrap for name, m in criteria.items() if m.bootstrap})
    curves = {name: m.curves for name, m in criteria.items()}
    return {
        "direction": "higher = more critical",
        "bootstrap": boot,
        **measure(curves, count, samples, seed),
    }
