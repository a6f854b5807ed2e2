"""Linear CKA between layer representations, δ_ℓ and the critical layers (docs/method.md#cka).

``CKA(X, Y) = ‖YᵀX‖_F² / (‖XᵀX‖_F ‖YᵀY‖_F)`` on column-centred ``X [n, d]``,
``Y [n, d']`` in float64; the ``debiased`` estimator replaces each HSIC by the unbiased
HSIC of Song et al. (2012), i.e. Gram matrices with a zero diagonal and the
U-statistic correction, which is invariant to centring. CKA is undefined (NaN) for a
constant representation, for ``n < 2`` (biased) or ``n < 4`` (debiased).

Pure functions of Gram matrices ``K_ℓ = X_ℓ X_ℓᵀ [n, n]`` (``‖YᵀX‖_F² = tr(K L)``);
:mod:`layertracer.methods.cka.collect` streams a run's representations into them (or into
feature sums when that needs less memory).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from layertracer.methods.metrics import F64, Floating
from layertracer.schema.methods import CKASection


def center(x: Floating) -> F64:
    """Column-centred float64 copy. ``[n, d] -> [n, d]``"""
    x64 = np.asarray(x, dtype=np.float64)
    centred: F64 = x64 - x64.mean(axis=0, keepdims=True)
    return centred


def _prepare(grams: list[F64], estimator: str) -> tuple[F64, F64]:
    """Gram matrices made ready for HSIC: flattened ``[m, n²]`` and their row sums ``[m, n]``.

    ``biased``: double-centred ``HKH``; ``debiased``: the diagonal set to zero (``K̃``).
    """
    g = np.stack(grams).astype(np.float64)  # [m, n, n]
    if estimator == "biased":
        g = g - g.mean(1, keepdims=True) - g.mean(2, keepdims=True) + g.mean((1, 2), keepdims=True)
    else:
        diagonal = np.arange(g.shape[1])
        g[:, diagonal, diagonal] = 0.0
    return g.reshape(len(g), -1), g.sum(2)


def _pairwise(x: F64, y: F64) -> F64:
    """Every row of ``x`` dotted with every row of ``y``. ``[m, k], [m', k] -> [m, m']``"""
    return x @ y.T


def _rowwise(x: F64, y: F64) -> F64:
    """Row ``i`` of ``x`` dotted with row ``i`` of ``y``. ``[m, k], [m, k] -> [m]``"""
    out: F64 = (x * y).sum(-1)
    return out


def _hsic(a: tuple[F64, F64], b: tuple[F64, F64], estimator: str, outer: bool) -> F64:
    """HSIC (up to a factor ``1/n²`` or ``1/n(n−3)`` that cancels in CKA) of prepared Grams.

    Args:
        a: ``_prepare`` output for ``m`` layers.
        b: ``_prepare`` output for ``m`` (or, with ``outer``, any number of) layers.
        estimator: ``biased`` or ``debiased`` (Song et al. 2012, eq. 5).
        outer: All pairs ``[m, m']`` instead of row by row ``[m]``.
    """
    (fa, ra), (fb, rb) = a, b
    n = ra.shape[1]
    dot: Callable[[F64, F64], F64] = _pairwise if outer else _rowwise
    if n < (2 if estimator == "biased" else 4):
        return np.full((len(fa), len(fb)) if outer else len(fa), math.nan)
    if estimator == "biased":
        return dot(fa, fb)
    sa, sb = ra.sum(1), rb.sum(1)
    sums = np.outer(sa, sb) if outer else sa * sb
    hsic: F64 = dot(fa, fb) + sums / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * dot(ra, rb)
    return hsic


def ratio(xy: F64, xx: F64, yy: F64) -> F64:
    """``xy / sqrt(xx·yy)``; NaN where a self-similarity is not positive."""
    ok = (xx > 0) & (yy > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, xy / np.sqrt(np.where(ok, xx * yy, 1.0)), math.nan)


def linear_cka(x: Floating, y: Floating, estimator: str = "biased") -> float:
    """Linear CKA of two representations of the same ``n`` inputs.

    Args:
        x: ``[n, d]`` representations.
        y: ``[n, d']`` representations of the same inputs.
        estimator: ``biased`` or ``debiased``.

    Returns:
        CKA, in [0, 1] for ``biased`` (the debiased value can leave [0, 1] slightly); NaN
        where undefined. Invariant to rotations and isotropic scaling of ``x`` or ``y``.
    """
    xc, yc = center(x), center(y)
    return float(cka_from_grams([xc @ xc.T, yc @ yc.T], estimator)[0, 1])  # Grams [n, n]


def cka_from_grams(grams: list[F64], estimator: str) -> F64:
    """The CKA matrix of all pairs of layers from their Gram matrices. ``-> [L+1, L+1]``"""
    prepared = _prepare(grams, estimator)
    hsic = _hsic(prepared, prepared, estimator, outer=True)  # [L+1, L+1]
    diag = np.diag(hsic)
    return ratio(hsic, diag[:, None], diag[None, :])


def neighbour_delta(grams: list[F64], estimator: str, weights: F64) -> F64:
    """δ_ℓ of weighted prompt samples, e.g. bootstrap resamples. ``[B, n] -> [B, L+1]``

    ``weights[b, p]`` is how often prompt ``p`` occurs in sample ``b`` (all ones: the run
    itself). This equals :func:`delta` of the CKA matrix of the resampled representations
    (duplicates included) exactly, without forming the resampled Gram matrices: every HSIC
    term is a quadratic form ``wᵀ(K∘L)w`` or a sum over ``w ∘ (Kw) ∘ (Lw)``. Only each
    layer's HSIC with itself and its next neighbour is needed: ``2L+1`` per sample.
    """
    w = np.asarray(weights, dtype=np.float64)  # [B, n]
    n = w.sum(1)  # [B]
    kw = [w @ g for g in grams]  # [B, n] each (Grams are symmetric)
    diag = [np.diag(g) for g in grams]

    def hsic(i: int, j: int) -> F64:  # [B]
        quad = ((w @ (grams[i] * grams[j])) * w).sum(1)
        if estimator == "biased":
            cross = (w * kw[i] * kw[j]).sum(1)
            total = (w * kw[i]).sum(1) * (w * kw[j]).sum(1)
            return np.where(n >= 2, quad - 2.0 / n * cross + total / n**2, math.nan)
        ri, rj = kw[i] - diag[i], kw[j] - diag[j]  # row sums of the zero-diagonal Grams
        trace = quad - (w * diag[i] * diag[j]).sum(1)
        total = (w * ri).sum(1) * (w * rj).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = trace + total / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (w * ri * rj).sum(1)
        return np.where(n >= 4, value, math.nan)

    own = np.stack([hsic(i, i) for i in range(len(grams))], axis=1)  # [B, L+1]
    near = np.stack([hsic(i, i + 1) for i in range(len(grams) - 1)], axis=1)  # [B, L]
    upper = ratio(near, own[:, :-1], own[:, 1:])
    window = np.full((*own.shape, 3), math.nan)  # [B, L+1, (left, self, right)]
    window[:, :, 1] = ratio(own, own, own)
    window[:, 1:, 0], window[:, :-1, 2] = upper, upper
    finite = np.isfinite(window)
    count = finite.sum(2)
    total = np.where(finite, window, 0.0).sum(2)
    return np.where(count > 0, total / np.maximum(count, 1), math.nan)


def delta(matrix: F64) -> F64:
    """δ_ℓ = mean CKA of layer ℓ with ℓ−1, ℓ, ℓ+1 (clipped at the ends). ``[L+1, L+1] -> [L+1]``

    Undefined (NaN) entries are left out of the window like layers beyond the ends (e.g.
    layer 0 when every prompt ends in the same token, so its representation is constant).

    Returns:
        Values in [0, 1] for the biased estimator; NaN where the whole window is undefined.
    """
    count = matrix.shape[0]
    out = np.full(count, math.nan)
    for i in range(count):
        window = matrix[i, max(0, i - 1) : min(count, i + 2)]
        window = window[np.isfinite(window)]
        if len(window):
            out[i] = window.mean()
    return out


def critical_layers(deltas: F64) -> list[int]:
    """Blocks 1..L ranked by smallest δ_ℓ (ties: lower layer first; NaN left out)."""
    blocks = [i for i in range(1, len(deltas)) if math.isfinite(deltas[i])]
    return sorted(blocks, key=lambda i: (deltas[i], i))


def summarize(matrix: F64, estimator: str, kind: str, n: int, form: str) -> CKASection:
    """The ``cka`` results section (``schema.CKASection``) from the CKA matrix
    ``[L+1, L+1]``."""
    deltas = delta(matrix)
    ranking = critical_layers(deltas)
    return CKASection.model_validate(
        {
            "estimator": estimator,
            "representation": kind,
            "n": n,
            "form": form,
            "matrix": matrix.tolist(),
            "delta": deltas.tolist(),
            "critical_layers": ranking,
            "critical_layer": ranking[0] if ranking else None,
            "window": 3,
        }
    )


def grams_from_rows(rows: dict[int, F64]) -> list[F64]:
    """Per layer the Gram matrix of the column-centred representations, prompts in index
    order. ``{index: [L+1, d]} -> L+1 × [n, n]``"""
    stacked = np.stack([rows[n] for n in sorted(rows)])  # [n, L+1, d]
    out = []
    for layer in range(stacked.shape[1]):
        x = center(stacked[:, layer])  # [n, d]
        out.append(x @ x.T)
    return out
