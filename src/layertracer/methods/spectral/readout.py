"""What a principal direction means: read through the model's lens
(docs/method.md#spectral-readout).

For layer ℓ's mean representation ``μ``, its ``i``-th principal direction ``vᵢ`` and the
standard deviation ``σᵢ`` along it, the two points ``μ ± c·σᵢ·vᵢ`` (``c`` =
:data:`SCALE`) are read through the logit lens (final norm, unembedding, logit transform;
float32). A token's score is ``log p₊ − log p₋``: the ``+`` side's tokens are the highest
scores, the ``−`` side's the lowest. Scores are antisymmetric in the sign of ``vᵢ``, so the
arbitrary sign of a direction only swaps the two sides.
"""

from __future__ import annotations

import numpy as np
import torch

from layertracer.model.anatomy import Anatomy
from layertracer.model.lens import lens_logprobs

SCALE = 2.0  # standard deviations either side of the mean


def direction_scores(
    anatomy: Anatomy, mean: np.ndarray, components: np.ndarray, std: np.ndarray
) -> torch.Tensor:
    """``log p(μ + cσv) − log p(μ − cσv)`` per direction and token. ``-> [k, vocab]``

    Args:
        anatomy: The model's parts (its lens).
        mean: The layer's mean representation. ``[d]``
        components: Unit principal directions. ``[k, d]``
        std: The standard deviation along each. ``[k]``
    """
    step = SCALE * std[:, None] * components  # [k, d]
    points = np.concatenate([mean[None] + step, mean[None] - step])  # [2k, d]
    weight = next(anatomy.unembed.parameters())  # rows meet the unembedding where it is
    rows = torch.as_tensor(points, dtype=weight.dtype, device=weight.device)
    logprobs = lens_logprobs(anatomy, rows)  # [2k, vocab] float32
    count = len(components)
    scores: torch.Tensor = (logprobs[:count] - logprobs[count:]).cpu()
    return scores


def top_tokens(scores: torch.Tensor, count: int) -> tuple[list[list[int]], list[list[int]]]:
    """The ``count`` highest- and lowest-scoring token ids of each row (``+`` and ``−``
    sides), best first. ``[k, vocab] -> k × [count], k × [count]``"""
    count = min(count, scores.shape[-1])
    plus = scores.topk(count, dim=-1).indices.tolist()
    minus = (-scores).topk(count, dim=-1).indices.tolist()
    return plus, minus
