"""Per-suite summaries of a run over one or several tasks (``results.suites``).

Computed from the per-prompt rows alone (``suite``, ``correct``, ``particle_layer``,
``js_mean``), so it can be recomputed from results.json or from rows gathered from
several processes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def suite_summaries(rows: Sequence[dict], particles: bool = True) -> dict[str, dict]:
    """One summary per suite, in the order the suites first occur in ``rows``.

    Args:
        rows: Prompt rows; a row without ``suite`` counts under ``""``.
        particles: Whether the particle stage ran (else no particle keys).

    Returns:
        ``{suite: {items, accuracy, particle_median, particle_iqr, none_fraction,
        vulnerable_layer}}``: ``accuracy`` in [0, 1]; ``particle_median``/``particle_iqr``
        over the suite's prompts that have a particle (None if none has), with linear
        interpolation as in ``particles``; ``none_fraction`` in [0, 1];
        ``vulnerable_layer`` (only when rows carry ``js_mean``) is the argmax over
        layers 0..L of the suite's mean per-prompt JS.
    """
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(str(row.get("suite") or ""), []).append(row)
    return {name: summarize_suite(group, particles) for name, group in groups.items()}


def summarize_suite(rows: Sequence[dict], particles: bool = True) -> dict:
    """The summary of one suite's rows (see :func:`suite_summaries`)."""
    summary: dict = {
        "items": len(rows),
        "accuracy": float(np.mean([bool(r.get("correct")) for r in rows])) if rows else None,
    }
    if particles:
        summary.update(_particle_stats([r.get("particle_layer") for r in rows]))
    js = [r["js_mean"] for r in rows if r.get("js_mean") is not None]
    if js and len(js) == len(rows):  # null (NaN): a layer without the perturbed site
        mean = np.mean(np.array(js, dtype=float), axis=0)
        if np.isfinite(mean).any():
            summary["vulnerable_layer"] = int(np.nanargmax(mean))
    return summary


def _particle_stats(layers: Sequence[int | None]) -> dict:
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
