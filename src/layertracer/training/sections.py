"""The result sections of the experiments: each criterion's arms against the random band
(``adapt``, ``backdoor``), and the sensitivity of the blocks to fine-tuning."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from layertracer.results.training import Arm, Correlation, Effect, SensitivitySection
from layertracer.training.measures import against, band, correlation

MEASURES = {"adapt": ("loss_reduction",), "backdoor": ("asr", "clean_accuracy")}


def effects(arms: Sequence[Arm], experiment: str) -> list[Effect]:
    """Per criterion with arms and per measure of ``experiment``: its ``most`` and
    ``least`` arm's value, the random draws' band ``[min, max]`` and mean, and where each
    arm lies against the band."""
    draws = [a for a in arms if a.which == "random"]
    named = {(a.criterion, a.which): a for a in arms}
    criteria = dict.fromkeys(a.criterion for a in arms if a.which in ("most", "least"))
    out = []
    for measure in MEASURES[experiment]:
        values = [getattr(a, measure) for a in draws]
        random_band = band(values)
        finite = [v for v in values if v is not None]
        mean = float(np.mean(finite)) if finite else None
        for criterion in criteria:
            most = getattr(named[(criterion, "most")], measure)
            least = getattr(named[(criterion, "least")], measure)
            out.append(
                Effect(
                    criterion=criterion,
                    measure=measure,
                    most=most,
                    least=least,
                    random_band=random_band,
                    random_mean=mean,
                    most_vs_random=against(most, random_band),  # type: ignore[arg-type]
                    least_vs_random=against(least, random_band),  # type: ignore[arg-type]
                )
            )
    return out


def sensitivity_section(
    arm: Arm,
    cka: list[float | None],
    curves: dict[str, list[float]],
    samples: int,
    seed: int,
) -> SensitivitySection:
    """The blocks' weight change and the layers' CKA before/after, and each criterion's
    Spearman correlation (at the blocks: state ``b + 1`` rates block ``b``) with the weight
    change and with the shift ``1 − CKA(before, after)`` of the block's output."""
    shift = [math.nan if v is None else 1.0 - v for v in cka[1:]]
    table = {}
    for name, curve in curves.items():
        blocks = list(curve[1:])
        table[name] = {
            measure: Correlation(rho=rho, interval=interval)
            for measure, values in (("weight_change", arm.weight_change), ("shift", shift))
            for rho, interval in [correlation(blocks, values, samples, seed)]
        }
    return SensitivitySection(
        weight_change=arm.weight_change, cka_before_after=cka, correlation=table, arm=arm
    )
