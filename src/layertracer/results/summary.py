"""The summary of a run, computed once from its results.json object and shown by every
front end: the terminal table (:mod:`layertracer.cli.summary`), report.html and the
notebook view."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class SummaryRow:
    """One line of the summary.

    Attributes:
        measure: What is measured, in words.
        value: The value, formatted for reading.
        alert: Shown highlighted: the number should not be trusted as it is.
    """

    measure: str
    value: str
    alert: bool = False


def fmt(value: object, spec: str = ".3g") -> str:
    """``value`` formatted by ``spec``, or an en dash for ``None``."""
    return "–" if value is None else format(value, spec)


def summary_rows(data: dict) -> list[SummaryRow]:
    """The summary of a results.json object: accuracy, fidelity, particles, the vulnerable
    layer with its stability, and the critical layer of every other method that ran."""
    rows = [
        SummaryRow("prompts", str(len(data["prompts"]))),
        SummaryRow(
            "first-token accuracy (final top-1 = target token)", fmt(data.get("accuracy"), ".3f")
        ),
        SummaryRow(
            "lens fidelity max |Δ log-prob|", fmt(data["lens"].get("fidelity_max_abs_err"), ".2e")
        ),
    ]
    rows += _particle_rows(data.get("particles") or {})
    rows += _vulnerability_rows(data.get("vulnerability") or {})
    rows += _method_rows(data)
    return rows


def _particle_rows(part: dict) -> list[SummaryRow]:
    if not part:
        return []
    median = fmt(part.get("median"), "g")
    if part.get("median") is not None:
        median += f" (IQR {fmt(part.get('iqr'), 'g')})"
    return [
        SummaryRow(f"particle layer median (δ = {part.get('delta')})", median),
        SummaryRow("prompts without particle", fmt(part.get("none_fraction"), ".0%")),
    ]


def _vulnerability_rows(vul: dict) -> list[SummaryRow]:
    i = vul.get("vulnerable_layer")
    if i is None:
        return []
    std = (vul.get("js_std") or [None] * (i + 1))[i]
    js = f"JS {fmt(vul['js_mean'][i], '.3f')} ± {fmt(std, '.3f')}"
    seeds, site = len(vul.get("seeds", [])), vul.get("site", "residual")
    stable = vul.get("stable")
    per_layer = vul.get("massive_dims_per_layer")  # state site: elements of each state
    massive = sum(map(len, per_layer.values())) if per_layer else len(vul.get("massive_dims") or [])
    return [
        SummaryRow("vulnerable layer", f"{i} ({js} over {seeds} seeds, site {site})"),
        SummaryRow(
            "stable across seeds",
            f"{'yes' if stable else 'NO'} (agreement {fmt(vul.get('seed_agreement'), '.0%')})",
            alert=not stable,
        ),
        SummaryRow("per-seed vulnerable layers", json.dumps(vul.get("per_seed_vulnerable_layer"))),
        SummaryRow("massive channels", f"{massive} (protect: {vul.get('protect_massive')})"),
        SummaryRow(
            "scan path",
            f"{vul.get('path')} (replay err {fmt(vul.get('replay_max_abs_err'), '.1e')})",
        ),
    ]


def _method_rows(data: dict) -> list[SummaryRow]:
    rows = []
    if cka := data.get("cka"):
        rows.append(SummaryRow("CKA critical layer (min δ)", fmt(cka.get("critical_layer"), "")))
    if ablation := data.get("ablation"):
        i = ablation.get("critical_layer")
        drop = ablation["target_logprob_drop"][i] if i is not None else None
        value = f"{fmt(i, '')} (Δ log P(target) {fmt(drop, '.2f')} nats)"
        rows.append(SummaryRow("ablation critical layer", value))
    if tracing := data.get("causal_tracing"):
        i = tracing.get("critical_layer")
        effect = tracing["indirect_effect"][i] if i is not None else None
        value = f"{fmt(i, '')} (indirect effect {fmt(effect, '.3f')})"
        rows.append(SummaryRow("causal tracing critical layer", value))
    if removal := data.get("removal"):
        rows.append(SummaryRow("layer removal: best criterion", _removal_value(removal)))
    return rows


def _removal_value(removal: dict) -> str:
    """The best criterion of layer removal, its accuracy area and random's, in words."""
    best, K = removal.get("best"), removal.get("max_blocks")
    curves = removal.get("curves") or {}
    if best is None or best not in curves:
        return f"– (K = {K})"
    mine, random = curves[best], curves.get("random") or {}
    area = "accuracy_auc" if mine.get("accuracy_auc") is not None else "logprob_auc"
    name = "accuracy AUC" if area == "accuracy_auc" else "log-prob AUC"
    return (
        f"{best} ({name} {fmt(mine.get(area), '.3f')} vs random "
        f"{fmt(random.get(area), '.3f')}, k ≤ {K} blocks)"
    )


def suite_line(summary: dict) -> str:
    """One suite's summary in words (``results.suites[name]``)."""
    parts = [f"{summary.get('items')} items", f"accuracy {fmt(summary.get('accuracy'), '.3f')}"]
    if "particle_median" in summary:
        parts.append(
            f"particle {fmt(summary['particle_median'], 'g')} "
            f"(IQR {fmt(summary.get('particle_iqr'), 'g')}, "
            f"none {fmt(summary.get('none_fraction'), '.0%')})"
        )
    if summary.get("vulnerable_layer") is not None:
        parts.append(f"vulnerable layer {summary['vulnerable_layer']}")
    return ", ".join(parts)
