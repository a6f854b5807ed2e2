"""Similarity of consecutive layer states: ShortGPT's Block Influence and Gromov et al.'s
angular distance, from the states of the clean pass (docs/method.md#block-influence).

- Block Influence (Men et al., ShortGPT): ``BI_i = 1 − mean_t cos(h_{i−1,t}, h_{i,t})``
  over every real token ``t`` of a prompt; block ``i`` changes its input little when
  ``BI_i`` is small. In [0, 2]; layer 0 (no block) NaN.
- Angular distance (Gromov et al., "The Unreasonable Ineffectiveness of the Deeper
  Layers"): ``d_i = arccos(cos(h_{i−n}, h_i)) / π`` at the last real token, for the window
  of the ``n`` blocks ``i−n+1..i`` (``n = 1``: block ``i`` alone). In [0, 1]; layers
  ``i < n`` NaN.

Both are oriented like every criterion: higher = more critical. Cosines are float64; a
zero state makes them NaN (undefined).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from layertracer.schema.methods import SimilaritySection


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity along the last dimension in float64, clamped to [−1, 1]; NaN
    where either vector is zero. ``[..., d] x2 -> [...]``"""
    a, b = a.double(), b.to(a.device).double()
    norms = a.norm(dim=-1) * b.norm(dim=-1)
    cos = (a * b).sum(-1) / norms
    return torch.where(norms > 0, cos.clamp(-1.0, 1.0), math.nan)


def block_influence(states: Sequence[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    """ShortGPT's Block Influence of every block for every prompt of a batch.

    Args:
        states: The ``L+1`` layer states. ``L+1 x [B, T, d]``
        mask: 1 on real tokens. ``[B, T]``

    Returns:
        ``BI[b, i] = 1 − mean over real tokens of cos(h_{i−1}, h_i)``, in [0, 2]; column
        0 NaN. ``[B, L+1]`` float64 on the CPU.
    """
    real = mask.double().cpu()  # [B, T]
    out = torch.full((real.shape[0], len(states)), math.nan, dtype=torch.float64)
    for i in range(1, len(states)):
        cos = cosine(states[i - 1], states[i]).cpu()  # [B, T]
        out[:, i] = 1.0 - (torch.where(real > 0, cos, 0.0)).sum(1) / real.sum(1)
    return out


def angular_distance(
    states: Sequence[torch.Tensor], last: torch.Tensor, span: int = 1
) -> torch.Tensor:
    """Gromov et al.'s angular distance between layer states ``span`` apart, at each
    prompt's last real token.

    Args:
        states: The ``L+1`` layer states. ``L+1 x [B, T, d]``
        last: Each row's last real position. ``[B]``
        span: ``n``: column ``i`` compares states ``i − n`` and ``i``.

    Returns:
        ``d[b, i] = arccos(cos(h_{i−n}, h_i)) / π`` in [0, 1]; columns ``i < n`` NaN.
        ``[B, L+1]`` float64 on the CPU.
    """
    rows = [s[torch.arange(s.shape[0], device=s.device), last.to(s.device)] for s in states]
    out = torch.full((len(last), len(states)), math.nan, dtype=torch.float64)
    for i in range(span, len(states)):
        out[:, i] = torch.arccos(cosine(rows[i - span], rows[i])).cpu() / math.pi
    return out


def summarize(bi: np.ndarray, angular: np.ndarray, span: int) -> SimilaritySection:
    """The ``similarity`` section from per-prompt values ``[N, L+1]`` (means over prompts,
    NaN prompts left out)."""
    return SimilaritySection.model_validate(
        {
            "bi": _mean(bi).tolist(),
            "angular": _mean(angular).tolist(),
            "span": span,
            "prompts": len(bi),
            "bi_tokens": "every real token of each prompt",
            "angular_position": "last real token of each prompt",
            "definition": "bi_i = 1 − mean_t cos(h_{i−1}, h_i); angular_i = arccos(cos(h_{i−n}, "
            "h_i)) / π; mean over prompts; higher = more critical",
        }
    )


def _mean(values: np.ndarray) -> np.ndarray:
    """Mean over prompts of the finite entries, NaN where none is. ``[N, L+1] -> [L+1]``"""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    count = finite.sum(0)
    total = np.where(finite, values, 0.0).sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), math.nan)
