"""Pure metric functions: divergences, rank statistics and the BCa bootstrap interval."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

F64 = npt.NDArray[np.float64]  # a float64 array
Floating = npt.NDArray[np.floating[Any]]  # a float array of any width
Floats = Sequence[float] | Floating  # numbers, as a list or an array
JS_BLOCK = 2**17  # float64 elements of one block of rows (about 1 MiB: stays in cache)


def js_divergence(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Jensen–Shannon divergence in bits between rows of two log-prob tensors.

    ``JS(p, q) = ½ KL(p‖m) + ½ KL(q‖m)``, ``m = (p + q) / 2``, log base 2, computed in
    float64. Symmetric; ``JS(p, p) = 0``. Rows are computed in blocks of about
    :data:`JS_BLOCK` elements (at least two rows, so each row is still summed by one
    thread): the same numbers as all rows at once, several times faster on a CPU.

    Args:
        logp: Log-probabilities. ``[..., vocab]``
        logq: Log-probabilities, same shape.

    Returns:
        JS per row, in [0, 1]. ``[...]``
    """
    if logp.shape != logq.shape or logp.dim() < 1:
        return _js(logp, logq)
    vocab = logp.shape[-1]
    flat_p, flat_q = logp.reshape(-1, vocab), logq.reshape(-1, vocab)
    rows = max(2, JS_BLOCK // max(1, vocab))
    if flat_p.shape[0] <= rows:
        return _js(logp, logq)
    starts = list(range(0, flat_p.shape[0], rows))
    if len(starts) > 1 and flat_p.shape[0] - starts[-1] < 2:
        starts.pop()  # no block of one row: the last block takes it
    ends = [*starts[1:], flat_p.shape[0]]
    parts = [_js(flat_p[a:b], flat_q[a:b]) for a, b in zip(starts, ends, strict=True)]
    return torch.cat(parts).view(logp.shape[:-1])


def _js(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """:func:`js_divergence` of all rows at once."""
    logp, logq = logp.double(), logq.double()
    logm = torch.logaddexp(logp, logq) - math.log(2.0)
    kl_pm = torch.where(logp > -math.inf, logp.exp() * (logp - logm), 0.0).sum(-1)
    kl_qm = torch.where(logq > -math.inf, logq.exp() * (logq - logm), 0.0).sum(-1)
    js = (0.5 * kl_pm + 0.5 * kl_qm) / math.log(2.0)
    return js.clamp(0.0, 1.0)


def kl_divergence(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Kullback–Leibler divergence ``KL(p ‖ q) = Σ p (log p − log q)`` in nats between rows
    of two log-prob tensors, computed in float64.

    Terms where ``p = 0`` count 0; a token with ``p > 0`` and ``q = 0`` makes it infinite.
    Not symmetric; ``KL(p ‖ p) = 0``.

    Args:
        logp: Log-probabilities of the reference ``p``. ``[..., vocab]``
        logq: Log-probabilities of ``q``, same shape.

    Returns:
        KL per row, in [0, ∞]. ``[...]``
    """
    logp, logq = logp.double(), logq.double()
    terms = torch.where(logp > -math.inf, logp.exp() * (logp - logq), 0.0)
    return terms.sum(-1).clamp_min(0.0)


def spearman(a: Floats, b: Floats) -> float:
    """Spearman rank correlation (average ranks for ties), in [-1, 1]; nan if constant."""
    ra, rb = _ranks(a), _ranks(b)
    return pearson(ra, rb)


def pearson(a: Floats, b: Floats) -> float:
    """Pearson correlation, in [-1, 1]; nan if either input is constant."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if np.ptp(x) == 0 or np.ptp(y) == 0:  # constant: centring would leave rounding noise
        return math.nan
    x, y = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denom) if denom > 0 else math.nan


def _ranks(values: Floats) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts  # 0-based rank of each distinct value's first copy
    return (first + (counts - 1) / 2.0)[inverse]  # average rank over ties


def bca_interval(
    draws: Floats, point: float, jackknife: Floats, level: float = 0.95
) -> list[float] | None:
    """Bias-corrected and accelerated (BCa) bootstrap interval (Efron 1987).

    ``z0 = Φ⁻¹(share of finite draws below the point, ties counted half)``; the acceleration
    ``a = Σ(m − θ_i)³ / (6·(Σ(m − θ_i)²)^1.5)`` from the leave-one-out values ``θ_i`` (mean
    ``m``; 0 when they are all equal); the interval is the draws' percentiles at
    ``Φ(z0 + (z0 + z)/(1 − a(z0 + z)))`` for ``z = Φ⁻¹((1 ∓ level)/2)``.

    Args:
        draws: The statistic on each bootstrap resample (non-finite draws are left out).
        point: The statistic on the data.
        jackknife: The statistic with each unit (prompt) left out in turn.
        level: Coverage, in (0, 1).

    Returns:
        ``[low, high]`` with ``low <= high``, or ``None`` where BCa is undefined: no finite
        draw, a non-finite point, or every draw on one side of the point (``z0`` infinite),
        as happens for a discrete statistic that no resample reaches.
    """
    values = np.asarray(draws, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values) or not math.isfinite(point):
        return None
    below = (np.sum(values < point) + 0.5 * np.sum(values == point)) / len(values)
    if below <= 0.0 or below >= 1.0:
        return None
    normal = NormalDist()
    z0 = normal.inv_cdf(float(below))
    jack = np.asarray(jackknife, dtype=np.float64)
    jack = jack[np.isfinite(jack)]
    spread = jack.mean() - jack if len(jack) else np.zeros(1)
    denom = 6.0 * float(np.sum(spread**2)) ** 1.5
    a = float(np.sum(spread**3)) / denom if denom > 0 else 0.0
    ends = []
    for tail in ((1 - level) / 2, (1 + level) / 2):
        z = z0 + normal.inv_cdf(tail)
        ends.append(normal.cdf(z0 + z / (1 - a * z)))
    low, high = np.quantile(values, ends).tolist()
    return [low, high]
