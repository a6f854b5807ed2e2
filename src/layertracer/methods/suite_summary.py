"""Per-suite summaries of a run over one or several tasks (``results.suites``).

Computed from the per-prompt rows alone (``suite``, ``correct``, ``particle_layer``,
``js_mean``), so it can be recomputed from results.json or from rows gathered from
several processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from layertracer.methods.vulnerability.interior import choose
from layertracer.schema.sections import SuiteSummary


def suite_summaries(
    rows: Sequence[dict[str, Any]], particles: bool = True, rule: str = "argmax", margin: int = 2
) -> dict[str, SuiteSummary]:
    """One summary per suite, in the order the suites first occur in ``rows``.

    Args:
        rows: Prompt rows; a row without ``suite`` counts under ``""``.
        particles: Whether the particle stage ran (else no particle keys).
        rule: The vulnerable-layer rule (docs/method.md#interior-vulnerable-layer).
        margin: Its interior margin.

    Returns:
        ``{suite: {items, accuracy, particle_median, particle_iqr, none_fraction,
        vulnerable_layer}}``: ``accuracy`` in [0, 1]; ``particle_median``/``particle_iqr``
        over the suite's prompts that have a particle (None if none has), with linear
        interpolation as in ``particles``; ``none_fraction`` in [0, 1]; only when rows
        carry ``js_mean``: ``js_mean`` the suite's mean JS profile and ``vulnerable_layer``
        the layer ``rule`` picks from it (a point estimate: no bootstrap; ``None`` when the
        interior has no peak).
    """
    groups = suite_groups([row.get("suite") for row in rows])
    return {
        name: summarize_suite([rows[i] for i in where], particles, rule, margin)
        for name, where in groups.items()
    }


def suite_groups(suites: Sequence[str | None], missing: str = "") -> dict[str, list[int]]:
    """The indices of the prompts of each suite, in the order the suites first occur (a
    prompt without a suite counts under ``missing``)."""
    groups: dict[str, list[int]] = {}
    for i, suite in enumerate(suites):
        groups.setdefault(str(suite or missing), []).append(i)
    return groups


def summarize_suite(
    rows: Sequence[dict[str, Any]], particles: bool = True, rule: str = "argmax", margin: int = 2
) -> SuiteSummary:
    """The summary of one suite's rows (see :func:`suite_summaries`)."""
    summary: dict[str, Any] = {
        "items": len(rows),
        "accuracy": float(np.mean([bool(r.get("correct")) for r in rows])) if rows else None,
    }
    if particles:
        summary.update(_particle_stats([r.get("particle_layer") for r in rows]))
    js = [r["js_mean"] for r in rows if r.get("js_mean") is not None]
    if js and len(js) == len(rows):  # null (NaN): a layer without the perturbed site
        mean = np.mean(np.array(js, dtype=float), axis=0)
        if np.isfinite(mean).any():
            summary["js_mean"] = [float(v) if np.isfinite(v) else None for v in mean]
            summary["vulnerable_layer"] = choose(mean, rule, margin)
    return SuiteSummary.model_validate(summary)


def _particle_stats(layers: Sequence[int | None]) -> dict[str, Any]:
    """Median and IQR of the particles that exist, and the fraction without one."""
    found = np.array([x for x in layers if x is not None], dtype=np.float64)
    none_fraction = 1.0 - len(found) / len(layers) if layers else 0.0
    if len(found) == 0:
        return {"particle_median": None, "particle_iqr": None, "none_fraction": none_fraction}
    q25, q50, q75 = np.percentile(found, [25, 50, 75])
    return {
        "particle_median": float(q50),
        "particle_iqr": float(q75 - q25),
        "none_fraction": float(none_fraction),
    }
