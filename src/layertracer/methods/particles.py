"""Task particles: the first layer where the target's lens probability rises
(docs/method.md#task-particle).

For a trajectory ``P[0..L]`` the particle is the first layer ``i >= 1`` with
``P[i] - P[i-1] >= delta``, or, when ``i >= 3`` layers precede it,
``P[i] > mean(P[:i]) + z * max(std(P[:i]), sigma_min)`` and ``P[i] - P[i-1] >= delta_min``.
No qualifying layer: ``None``, never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from layertracer.config import ParticleConfig
from layertracer.schema.methods import ParticlesSection


def find_particle(
    probs: Sequence[float],
    delta: float = 0.05,
    z: float = 2.0,
    sigma_min: float = 1e-3,
    delta_min: float = 0.01,
) -> int | None:
    """The particle layer of one trajectory, or ``None``.

    Args:
        probs: Target probability per layer, ``L+1`` values in [0, 1].
        delta: Jump threshold.
        z: z-score threshold (needs at least 3 preceding layers).
        sigma_min: Floor of the preceding layers' std (population std, ddof 0).
        delta_min: Minimum jump for the z rule.

    Returns:
        A layer in ``1..L`` or ``None``.
    """
    p = np.asarray(probs, dtype=np.float64)
    for i in range(1, len(p)):
        jump = p[i] - p[i - 1]
        if jump >= delta:
            return i
        if i >= 3:
            before = p[:i]
            threshold = before.mean() + z * max(before.std(), sigma_min)
            if p[i] > threshold and jump >= delta_min:
                return i
    return None


def particles_for(
    curves: Sequence[Sequence[float]], cfg: ParticleConfig, delta: float | None = None
) -> list[int | None]:
    """The particle of every trajectory under ``cfg`` (optionally another ``delta``)."""
    d = cfg.delta if delta is None else delta
    return [find_particle(c, d, cfg.z, cfg.sigma_min, cfg.delta_min) for c in curves]


def summarize(
    curves: Sequence[Sequence[float]], cfg: ParticleConfig, num_layers: int
) -> ParticlesSection:
    """Per-task particle statistics, as stored under ``particles`` in results.json.

    Args:
        curves: One trajectory (``L+1`` probabilities) per prompt.
        cfg: Thresholds.
        num_layers: ``L``.

    Returns:
        ``delta, z, sigma_min, delta_min, layers, histogram [L+1], median, quartiles,
        iqr, none_fraction, sensitivity {delta: {median, none_fraction}}``.
        ``median``/``iqr`` are over prompts that have a particle (``None`` if none do).
    """
    layers = particles_for(curves, cfg)
    stats = particle_stats(layers)
    sensitivity = {}
    for d in cfg.sensitivity:
        s = particle_stats(particles_for(curves, cfg, d))
        sensitivity[f"{d:g}"] = {"median": s["median"], "none_fraction": s["none_fraction"]}
    histogram = [0] * (num_layers + 1)
    for layer in layers:
        if layer is not None:
            histogram[layer] += 1
    return ParticlesSection.model_validate(
        {
            "delta": cfg.delta,
            "z": cfg.z,
            "sigma_min": cfg.sigma_min,
            "delta_min": cfg.delta_min,
            "layers": layers,
            "histogram": histogram,
            **stats,
            "sensitivity": sensitivity,
        }
    )


def particle_stats(layers: Sequence[int | None]) -> dict[str, Any]:
    """Median, quartiles and IQR of the particles that exist (linear interpolation), and the
    fraction of prompts without one (``count`` prompts)."""
    found = np.array([x for x in layers if x is not None], dtype=np.float64)
    none_fraction = 1.0 - len(found) / len(layers) if layers else 0.0
    if len(found) == 0:
        return {
            "count": len(layers), "median": None, "quartiles": None, "iqr": None,
            "none_fraction": none_fraction,
        }  # fmt: skip
    q25, q50, q75 = np.percentile(found, [25, 50, 75])
    return {
        "count": len(layers),
        "median": float(q50),
        "quartiles": [float(q25), float(q75)],
        "iqr": float(q75 - q25),
        "none_fraction": float(none_fraction),
    }
