"""What fine-tuning changed, and how it relates to the criteria (docs/training.md#measures):
the states before and after (CKA per layer), rank correlations with bootstrap intervals,
attack success and first-token accuracy, and each criterion's arms against the random band.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from layertracer.methods.cka.core import linear_cka
from layertracer.methods.metrics import spearman
from layertracer.training.data import Example, collate
from layertracer.training.loop import EVAL_BATCH


def last_states(model: nn.Module, examples: Sequence[Example]) -> list[np.ndarray]:
    """The ``L+1`` hidden states (the model's ``hidden_states``: the embedding, then every
    block's output) at each prompt's last token, ``[n, d]`` per layer, float64."""
    device = next(model.parameters()).device
    rows: list[list[np.ndarray]] = []
    with torch.no_grad():
        for start in range(0, len(examples), EVAL_BATCH):
            batch = collate(examples[start : start + EVAL_BATCH], 0, device)
            out = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                output_hidden_states=True,
            )
            picked = torch.arange(len(batch["last"]), device=device)
            rows.append(
                [h[picked, batch["last"]].double().cpu().numpy() for h in out.hidden_states]
            )
    return [np.concatenate(layer) for layer in zip(*rows, strict=True)]


def cka_before_after(before: list[np.ndarray], after: list[np.ndarray]) -> list[float | None]:
    """Per layer, linear CKA (biased) of the states before and after fine-tuning, in
    ``[0, 1]`` (1: unchanged up to rotation and scale); ``None`` where undefined."""
    values = [linear_cka(b, a) for b, a in zip(before, after, strict=True)]
    return [v if math.isfinite(v) else None for v in values]


def correlation(
    curve: Sequence[float], measured: Sequence[float], samples: int, seed: int
) -> tuple[float | None, list[float] | None]:
    """Spearman's rho of a criterion's block values and a measure over the blocks where
    both are finite, in ``[-1, 1]``, with a 95% percentile interval from ``samples``
    resamples of those blocks (``None``: undefined, or no resample)."""
    pairs = np.array(
        [(c, m) for c, m in zip(curve, measured, strict=True) if math.isfinite(c + m)],
        dtype=float,
    ).reshape(-1, 2)
    if len(pairs) < 3:
        return None, None
    rho = _rho(pairs)
    rng = np.random.default_rng(seed)
    draws = [_rho(pairs[rng.integers(0, len(pairs), len(pairs))]) for _ in range(samples)]
    finite = [d for d in draws if math.isfinite(d)]
    interval = [float(q) for q in np.quantile(finite, [0.025, 0.975])] if finite else None
    return (rho if math.isfinite(rho) else None), interval


def _rho(pairs: np.ndarray) -> float:
    """Spearman's rho of the two columns of ``pairs`` ``[n, 2]``."""
    return spearman(pairs[:, 0].tolist(), pairs[:, 1].tolist())


def share_equal(predicted: Sequence[int], wanted: Sequence[int]) -> float | None:
    """The share of positions where ``predicted`` equals ``wanted``, in ``[0, 1]``
    (attack success rate, first-token accuracy); ``None`` for no position."""
    if not wanted:
        return None
    return sum(p == w for p, w in zip(predicted, wanted, strict=True)) / len(wanted)


def band(values: Sequence[float | None]) -> list[float] | None:
    """``[min, max]`` of the finite values (the random band); ``None`` without one."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return [min(finite), max(finite)] if finite else None


def against(value: float | None, random_band: list[float] | None) -> str:
    """Where ``value`` lies against the random band: ``above``, ``below`` or ``inside``
    (``n/a`` without either)."""
    if value is None or random_band is None:
        return "n/a"
    low, high = random_band
    return "above" if value > high else "below" if value < low else "inside"
