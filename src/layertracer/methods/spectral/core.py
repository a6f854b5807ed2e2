"""PCA of layer representations and the split of a CKA shift by principal components
(docs/method.md#spectral).

For a layer's representations ``X [n, d]`` (column-centred), ``X = U S Vᵀ`` (thin SVD,
singular values descending): the principal directions are the rows of ``Vᵀ``, the scores
``U S``. With ``Xₖ`` the scores of the top ``k`` components and ``Xᵣ`` those of the rest,
the Gram matrix splits as ``K = XXᵀ = Kₖ + Kᵣ`` with ``⟨Kₖ, Kᵣ⟩ = 0``. For a second layer
``Y`` (``L = Lₖ + Lᵣ``) and the normalised Grams ``K̂ = K/‖K‖_F``, ``L̂ = L/‖L‖_F``::

    1 − CKA(X, Y) = ½‖K̂ − L̂‖²_F = top + rest + cross
    top   = ½‖K̂ₖ − L̂ₖ‖²_F                       ≥ 0
    rest  = ½‖K̂ᵣ − L̂ᵣ‖²_F                       ≥ 0
    cross = −(⟨K̂ₖ, L̂ᵣ⟩ + ⟨K̂ᵣ, L̂ₖ⟩)             ≤ 0

exactly (biased linear CKA). Every inner product is ``⟨AAᵀ, BBᵀ⟩ = ‖AᵀB‖²_F`` of scores,
so nothing ``[n, n]`` is formed. All of it is invariant to an orthogonal transform and an
isotropic scaling of either layer's features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from layertracer.methods.cka.core import center

PAIR_FIELDS = ("cka", "cka_top", "cka_rest", "shift", "shift_top", "shift_rest", "shift_cross",
               "energy_top")  # fmt: skip
RANK_TOL = 1e-6  # singular values below this share of the largest count as zero (float32 states)


@dataclass(frozen=True)
class Spectrum:
    """The PCA of one layer's representations.

    Attributes:
        mean: The mean representation. ``[d]``
        scores: ``U S``, every component's scores (rank ``r`` columns). ``[n, r]``
        components: The top-k principal directions, unit rows (``k`` = the cap). ``[k, d]``
        std: The standard deviation along each of them, ``s / sqrt(n − 1)``. ``[k]``
        ratio: Explained-variance ratio ``s_i² / Σ s²`` of each, in [0, 1]; NaN for a
            constant representation. ``[k]``
        rank: How many components are not zero (``s > RANK_TOL · s₁``).
    """

    mean: np.ndarray
    scores: np.ndarray
    components: np.ndarray
    std: np.ndarray
    ratio: np.ndarray
    rank: int


def capped_k(k: int, n: int, d: int) -> int:
    """``k`` capped by the rank a centred ``[n, d]`` matrix can have: ``min(k, n − 1, d)``,
    at least 0."""
    return max(0, min(k, n - 1, d))


def pca(x: np.ndarray, k: int) -> Spectrum:
    """The centred PCA of ``x`` ``[n, d]`` with its top ``capped_k(k, n, d)`` components.

    Each direction's sign is fixed so that its largest-magnitude entry is positive.
    """
    centred = center(x)  # [n, d]
    n, d = centred.shape
    u, s, vt = np.linalg.svd(centred, full_matrices=False)  # [n, m], [m], [m, d]
    rank = int((s > RANK_TOL * s[0]).sum()) if len(s) and s[0] > 0 else 0
    top = capped_k(k, n, d)
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])  # [m]
    signs[signs == 0] = 1.0
    vt, u = vt * signs[:, None], u * signs[None, :]
    total = float((s**2).sum())
    ratio = s[:top] ** 2 / total if total > 0 else np.full(top, math.nan)
    std = s[:top] / math.sqrt(max(n - 1, 1))
    mean = np.asarray(x, dtype=np.float64).mean(0)
    return Spectrum(mean, u[:, :rank] * s[:rank], vt[:top], std, ratio, rank)


def _h(a: np.ndarray, b: np.ndarray) -> float:
    """``⟨AAᵀ, BBᵀ⟩ = ‖AᵀB‖²_F`` (0 when either has no columns)."""
    return float(np.square(a.T @ b).sum()) if a.shape[1] and b.shape[1] else 0.0


def _cka(a: np.ndarray, b: np.ndarray) -> float:
    """Biased linear CKA of centred scores; NaN when either side is zero."""
    aa, bb = _h(a, a), _h(b, b)
    return _h(a, b) / math.sqrt(aa * bb) if aa > 0 and bb > 0 else math.nan


def decompose(x: Spectrum, y: Spectrum, k: int) -> dict[str, float]:
    """The split of ``1 − CKA`` between two layers by their top ``k`` components.

    Args:
        x: The PCA of the first layer.
        y: The PCA of the second layer (same prompts).
        k: Components in the top part (of each side; ``k >= rank`` leaves no rest).

    Returns:
        ``cka`` (biased linear CKA, in [0, 1]), ``cka_top`` and ``cka_rest`` (CKA of the
        top-k scores of both sides, and of the rest; NaN where a part is zero), ``shift``
        ``= 1 − cka``, ``shift_top`` and ``shift_rest`` (in [0, 1]), ``shift_cross``
        (in [−1, 0]), with ``shift = shift_top + shift_rest + shift_cross``, and
        ``energy_top`` ``= ½(‖K̂ₖ‖² + ‖L̂ₖ‖²)``, the top-k's share of the two Grams' squared
        norms (in [0, 1]: the top share a shift spread like the Grams would have); all NaN
        when either layer is constant.
    """
    names = PAIR_FIELDS
    xk, xr, yk, yr = x.scores[:, :k], x.scores[:, k:], y.scores[:, :k], y.scores[:, k:]
    nx, ny = math.sqrt(_h(x.scores, x.scores)), math.sqrt(_h(y.scores, y.scores))
    if nx == 0 or ny == 0:
        return dict.fromkeys(names, math.nan)
    both = nx * ny

    def half(a: np.ndarray, b: np.ndarray) -> float:  # ½‖Â − B̂‖² of one part
        return 0.5 * (_h(a, a) / nx**2 + _h(b, b) / ny**2) - _h(a, b) / both

    cka = _h(x.scores, y.scores) / both
    values = (cka, _cka(xk, yk), _cka(xr, yr), 1.0 - cka, half(xk, yk), half(xr, yr),
              -(_h(xk, yr) + _h(xr, yk)) / both,
              0.5 * (_h(xk, xk) / nx**2 + _h(yk, yk) / ny**2))  # fmt: skip
    return dict(zip(names, values, strict=True))


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles between the spans of two sets of orthonormal rows, ascending.

    Args:
        a: ``[k, d]`` orthonormal rows.
        b: ``[k', d]`` orthonormal rows.

    Returns:
        ``min(k, k')`` angles in degrees, in [0, 90]: ``arccos`` of the singular values
        of ``a bᵀ``.
    """
    if not len(a) or not len(b):
        return np.zeros(0)
    cosines = np.linalg.svd(a @ b.T, compute_uv=False)  # descending
    out: np.ndarray = np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))
    return out


def pair_angles(x: Spectrum, y: Spectrum, k: int) -> np.ndarray:
    """The ``k`` principal angles between two layers' top-k subspaces (degrees); NaN
    beyond the smaller rank, where a direction is not determined. ``[k]``"""
    out = np.full(k, math.nan)
    count = min(k, x.rank, y.rank)
    out[:count] = principal_angles(x.components[:count], y.components[:count])
    return out


def top_share(top: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """``top / (top + rest)``: the share of the shift's two parts the top-k carries, in
    [0, 1]; NaN where both are 0."""
    total = top + rest
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, top / np.where(total > 0, total, 1.0), math.nan)


def summarize(reps: np.ndarray, k: int) -> tuple[dict[str, object], list[Spectrum]]:
    """The spectral profile of a run's representations ``[n, L+1, d]``.

    Returns:
        The section's fields: ``k`` (the capped k), ``explained_variance_ratio``
        ``[L+1][k]``, ``rank`` ``[L+1]``, ``principal_angles_deg`` ``[L][k]`` (pair
        ``ℓ`` is layers ``(ℓ, ℓ+1)``), ``pairs`` (each of :data:`PAIR_FIELDS` ``[L]``) and
        ``top_share`` ``[L]``; and each layer's :class:`Spectrum`.
    """
    n, states, d = reps.shape
    top = capped_k(k, n, d)
    spectra = [pca(reps[:, layer], k) for layer in range(states)]
    parts = [decompose(a, b, top) for a, b in pairwise(spectra)]
    pairs = {name: np.array([p[name] for p in parts]) for name in PAIR_FIELDS}  # [L] each
    angles = [pair_angles(a, b, top) for a, b in pairwise(spectra)]
    fields: dict[str, object] = {
        "k": top,
        "n": n,
        "explained_variance_ratio": [s.ratio.tolist() for s in spectra],
        "rank": [s.rank for s in spectra],
        "principal_angles_deg": [a.tolist() for a in angles],
        "pairs": {name: value.tolist() for name, value in pairs.items()},
        "top_share": top_share(pairs["shift_top"], pairs["shift_rest"]).tolist(),
    }
    return fields, spectra
