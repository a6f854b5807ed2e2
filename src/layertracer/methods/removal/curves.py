"""Removal curves: the measures of every criterion's pruned models for ``k = 0..K``, their
areas and the best criterion (docs/method.md#layer-removal).

Per criterion and ``k``, over the run's prompts: first-token ``accuracy`` (top-1 = target
token), the mean target log-prob ``target_logprob`` (nats) and the mean ``kl`` =
``KL(full ‖ pruned)`` at the last position (nats). ``k = 0`` is the unpruned model.

Areas (higher = better, ``1`` = nothing lost, trapezoid over ``k = 0..K``):

- ``accuracy_auc = Σ_trap acc(k) / (K · acc(0))``; ``None`` when ``acc(0) = 0``;
- ``logprob_auc = Σ_trap exp(lp(k) − lp(0)) / K``: the area under the geometric-mean
  target probability kept, relative to the unpruned model (``exp`` of a mean log-prob is
  the geometric mean of the probabilities), defined for negative log-probs.

``random`` is the mean over its orders per ``k``, with the ``[min, max]`` band, and the
mean of its orders' areas with their band. The best criterion has the highest accuracy
area (ties, or no accuracy area, by log-prob area).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from layertracer.methods.removal.orders import RANDOM
from layertracer.methods.removal.scan import RemovalState


def accuracy_auc(accuracy: Sequence[float]) -> float | None:
    """``Σ_trap acc(k) / (K · acc(0))`` over ``k = 0..K``, in [0, ∞) (above 1 when removal
    helps); ``None`` when ``K = 0`` or ``acc(0) = 0``."""
    acc = np.asarray(accuracy, dtype=float)
    K = len(acc) - 1
    if K < 1 or not acc[0] > 0:
        return None
    return float(np.trapezoid(acc) / (K * acc[0]))


def logprob_auc(logprob: Sequence[float]) -> float | None:
    """``Σ_trap exp(lp(k) − lp(0)) / K`` over ``k = 0..K``, in (0, ∞), 1 = nothing lost;
    ``None`` when ``K = 0``."""
    lp = np.asarray(logprob, dtype=float)
    K = len(lp) - 1
    if K < 1:
        return None
    return float(np.trapezoid(np.exp(lp - lp[0])) / K)


class Measures:
    """The per-prompt measures of a scan as matrices, and the curve of any order.

    Args:
        state: The (gathered) scan state.
        sets: The pruned models' removed blocks, in the scan's order.
    """

    def __init__(self, state: RemovalState, sets: Sequence[frozenset[int]]) -> None:
        prompts = sorted(state.clean_logprob)
        self.index = {s: i for i, s in enumerate(sets)}
        shape = (len(prompts), len(sets))
        self.logprob = np.array([state.logprob[n] for n in prompts], float).reshape(shape)
        self.correct = np.array([state.correct[n] for n in prompts], float).reshape(shape)
        self.kl = np.array([state.kl[n] for n in prompts], float).reshape(shape)  # [N, S]
        self.clean_logprob = np.array([state.clean_logprob[n] for n in prompts])  # [N]
        self.clean_correct = np.array([state.clean_correct[n] for n in prompts], float)

    def curve(self, order: Sequence[int], max_blocks: int) -> dict[str, list[float]]:
        """Accuracy, mean target log-prob and mean KL for ``k = 0..K`` along ``order``."""
        acc = [float(self.clean_correct.mean())]
        lp = [float(self.clean_logprob.mean())]
        kl = [0.0]  # KL(full ‖ full)
        for k in range(1, max_blocks + 1):
            s = self.index[frozenset(order[:k])]
            acc.append(float(self.correct[:, s].mean()))
            lp.append(float(self.logprob[:, s].mean()))
            kl.append(float(self.kl[:, s].mean()))
        return {"accuracy": acc, "target_logprob": lp, "kl": kl}


def with_areas(curve: dict[str, Any]) -> dict[str, Any]:
    """The curve with its ``accuracy_auc`` and ``logprob_auc``."""
    return {
        **curve,
        "accuracy_auc": accuracy_auc(curve["accuracy"]),
        "logprob_auc": logprob_auc(curve["target_logprob"]),
    }


def random_curve(measures: Measures, orders: list[list[int]], max_blocks: int) -> dict[str, Any]:
    """The ``random`` curve: per ``k`` the mean over orders and the ``[min, max]`` band;
    the mean of the orders' areas and their band."""
    curves = [with_areas(measures.curve(order, max_blocks)) for order in orders]
    out: dict[str, Any] = {}
    for key in ("accuracy", "target_logprob", "kl"):
        values = np.array([c[key] for c in curves])  # [R, K+1]
        out[key] = values.mean(0).tolist()
        out[f"{key}_band"] = [values.min(0).tolist(), values.max(0).tolist()]
    for key in ("accuracy_auc", "logprob_auc"):
        areas = [c[key] for c in curves]
        if any(a is None for a in areas):
            out[key], out[f"{key}_band"] = None, None
        else:
            out[key], out[f"{key}_band"] = float(np.mean(areas)), [min(areas), max(areas)]
    return out


def deciding_area(curves: dict[str, dict[str, Any]]) -> str:
    """``accuracy_auc`` when every curve has one, else ``logprob_auc``."""
    every = all(c["accuracy_auc"] is not None for c in curves.values())
    return "accuracy_auc" if every else "logprob_auc"


def best_criterion(curves: dict[str, dict[str, Any]]) -> str | None:
    """The criterion with the highest accuracy area, ties by log-prob area (by log-prob
    area alone when the unpruned accuracy is 0); ``None`` without areas."""

    def key(name: str) -> tuple[float, float]:
        acc, lp = curves[name]["accuracy_auc"], curves[name]["logprob_auc"]
        return (-math.inf if acc is None else acc, -math.inf if lp is None else lp)

    ranked = [name for name in curves if curves[name]["logprob_auc"] is not None]
    return max(ranked, key=key) if ranked else None


def vs_random(curves: dict[str, dict[str, Any]]) -> None:
    """Adds ``vs_random`` to each criterion: its deciding area ``above``, ``within`` or
    ``below`` the band of the random orders' areas."""
    area = deciding_area(curves)
    band = curves.get(RANDOM, {}).get(f"{area}_band")
    for name, curve in curves.items():
        value = curve[area]
        if name == RANDOM or band is None or value is None:
            curve["vs_random"] = None
        else:
            curve["vs_random"] = (
                "above" if value > band[1] else "below" if value < band[0] else "within"
            )


def summarize_curves(
    state: RemovalState,
    sets: Sequence[frozenset[int]],
    orders: dict[str, list[int]],
    random: list[list[int]],
    max_blocks: int,
) -> dict[str, Any]:
    """``curves`` (per criterion, then ``random``) and the ``best`` criterion."""
    measures = Measures(state, sets)
    curves = {name: with_areas(measures.curve(o, max_blocks)) for name, o in orders.items()}
    if random:
        curves[RANDOM] = random_curve(measures, random, max_blocks)
    vs_random(curves)
    return {"curves": curves, "best": best_criterion(curves)}
