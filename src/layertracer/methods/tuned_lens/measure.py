"""How close each lens comes to the model's output: the mean ``KL(final ‖ lens_i)`` per layer
state, in bits, over held-out positions (docs/method.md#tuned-lens).

Range: ``[0, inf)`` per layer; ``0`` at layer ``L`` for both lenses (both are the model's
own output there).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from layertracer.methods.tuned_lens.train import layer_chunks, log_probs
from layertracer.model.anatomy import Anatomy
from layertracer.model.tuned import TunedLens

ROWS = 64  # positions per measuring batch


def kl_bits(
    anatomy: Anatomy,
    states: torch.Tensor,
    lens: TunedLens | None = None,
    step: Callable[[], None] | None = None,
) -> list[float]:
    """Mean ``KL(final ‖ lens_i)`` in bits for every layer state ``i = 0 .. L``.

    Args:
        anatomy: The model's parts.
        states: ``[L+1, positions, d]`` layer states.
        lens: Translators (``None``: the logit lens).
        step: Called once per batch of positions.

    Returns:
        ``L+1`` values, each >= 0 up to rounding.
    """
    L = states.shape[0] - 1
    sums = torch.zeros(L + 1, dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, states.shape[1], ROWS):
            batch = states[:, start : start + ROWS]
            final = log_probs(anatomy, batch[L])
            prob = final.exp()
            for layers in layer_chunks(L + 1, batch.shape[1], final.shape[-1]):
                rows = [lens.translate(i, batch[i]) if lens else batch[i] for i in layers]
                lp = log_probs(anatomy, torch.cat(rows)).view(len(layers), batch.shape[1], -1)
                sums[list(layers)] += (prob * (final - lp)).sum(-1).sum(-1).double()
            if step is not None:
                step()
    return (sums / states.shape[1] / math.log(2)).tolist()
