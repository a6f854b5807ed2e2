"""The summary of a run, computed once from its results.json object and shown by every
front end: the terminal table (:mod:`layertracer.cli.summary`), report.html and the
notebook view."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from layertracer.results.criteria import chosen_layers


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


def key_numbers(data: dict[str, Any]) -> dict[str, Any]:
    """The run's headline numbers by name (``null`` where a method did not run): the one
    place they are read from a results.json object, for ``run --json`` and the rows."""
    particles = data.get("particles") or {}
    vul = data.get("vulnerability") or {}
    return {
        "prompts": len(data["prompts"]),
        "first_token_accuracy": data.get("accuracy"),
        "full_answer_accuracy": data.get("answer_accuracy"),
        "lens_fidelity_max_abs_err": data["lens"].get("fidelity_max_abs_err"),
        "particle_median": particles.get("median"),
        "particle_iqr": particles.get("iqr"),
        "no_particle_fraction": particles.get("none_fraction"),
        "vulnerable_layer": vul.get("vulnerable_layer"),
        "vulnerable_layer_confidence_set": vul.get("confidence_set"),
        "vulnerable_layer_reliability": (vul.get("reliability") or {}).get("seeds"),
        "vulnerable_layer_stable": vul.get("stable"),
        "vulnerable_layer_rule": vul.get("layer_rule"),
        "argmax_layer": vul.get("argmax_layer", vul.get("vulnerable_layer")),
        "argmax_confidence_set": vul.get("argmax_confidence_set", vul.get("confidence_set")),
        "cka_critical_layer": (data.get("cka") or {}).get("critical_layer"),
        "ablation_critical_layer": (data.get("ablation") or {}).get("critical_layer"),
        "tracing_critical_layer": (data.get("causal_tracing") or {}).get("critical_layer"),
        "criterion_layers": chosen_layers(data),  # the most critical layer per criterion
    }


def summary_rows(data: dict[str, Any]) -> list[SummaryRow]:
    """The summary of a results.json object: accuracy, fidelity, particles, the vulnerable
    layer with its stability, and the critical layer of every other method that ran."""
    numbers = key_numbers(data)
    rows = [
        SummaryRow("prompts", str(numbers["prompts"])),
        SummaryRow(
            "first-token accuracy (final top-1 = target token)",
            fmt(numbers["first_token_accuracy"], ".3f"),
        ),
        *_answer_rows(numbers),
        SummaryRow(
            "lens fidelity max |Δ log-prob|", fmt(numbers["lens_fidelity_max_abs_err"], ".2e")
        ),
    ]
    rows += _particle_rows(data.get("particles") or {})
    rows += _vulnerability_rows(data.get("vulnerability") or {})
    rows += _method_rows(data, numbers)
    rows += _criteria_rows(numbers)
    return rows


def _answer_rows(numbers: dict[str, Any]) -> list[SummaryRow]:
    """Full-answer accuracy, where the run has it (``--full-target``)."""
    if numbers["full_answer_accuracy"] is None:
        return []
    value = fmt(numbers["full_answer_accuracy"], ".3f")
    return [SummaryRow("full-answer accuracy (greedy answer = whole target)", value)]


def _particle_rows(part: dict[str, Any]) -> list[SummaryRow]:
    if not part:
        return []
    rows = [SummaryRow(f"particle layer median (δ = {part.get('delta')})", _median(part))]
    rows.append(SummaryRow("prompts without particle", fmt(part.get("none_fraction"), ".0%")))
    if correct := part.get("correct"):
        value = f"{_median(correct)}, none {fmt(correct.get('none_fraction'), '.0%')}"
        if not correct.get("count"):
            value = "– (no prompt answered correctly)"
        rows.append(SummaryRow(f"  … over the {correct.get('count')} correct prompts", value))
    if other := part.get("other_lens"):
        value = f"{_median(other)}, none {fmt(other.get('none_fraction'), '.0%')}"
        label = f"  … under the {other.get('lens')} lens (this run: {part.get('lens')})"
        rows.append(SummaryRow(label, value))
    return rows


def _median(stats: dict[str, Any]) -> str:
    median = fmt(stats.get("median"), "g")
    if stats.get("median") is not None:
        median += f" (IQR {fmt(stats.get('iqr'), 'g')})"
    return median


def layer_set(layers: list[int] | None) -> str:
    """A set of layers in words: ``16–18`` when contiguous, else ``{3, 7, 12}``."""
    if not layers:
        return "–"
    ordered = sorted(layers)
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return str(ordered[0]) if len(ordered) == 1 else f"{ordered[0]}–{ordered[-1]}"
    return "{" + ", ".join(map(str, ordered)) + "}"


RULE_NAMES = {
    "argmax": "global argmax",
    "interior-peak": "interior peak",
    "interior-argmax": "interior argmax",
}


def vulnerable_line(vul: dict[str, Any]) -> str:
    """``layer 12 (95% set 12–13, reliability 0.98, 6 seeds)``: the vulnerable layer with
    its uncertainty (older runs: seed agreement instead); ``none stands out (…)`` when the
    interior rule names no layer."""
    seeds = len(vul.get("seeds", []))
    parts = []
    if vul.get("confidence_set") is not None:
        parts.append(f"95% set {layer_set(vul['confidence_set'])}")
        reliability = (vul.get("reliability") or {}).get("seeds")
        parts.append(f"reliability {fmt(reliability, '.2f')}")
    else:
        parts.append(f"agreement {fmt(vul.get('seed_agreement'), '.0%')}")
    layer = vul.get("vulnerable_layer")
    head = "none stands out" if layer is None else f"layer {layer}"
    return f"{head} ({', '.join(parts)}, {seeds} seeds)"


def endpoint_line(vul: dict[str, Any]) -> str | None:
    """The global argmax beside an interior layer, in one line (``None`` for the argmax
    rule or a run without it)."""
    if vul.get("layer_rule", "argmax") == "argmax" or vul.get("argmax_layer") is None:
        return None
    rel = (vul.get("argmax_reliability") or {}).get("seeds")
    where = ""
    ends = {0, len(vul["js_mean"]) - 1}
    if ends & set(vul.get("argmax_confidence_set") or []):
        where = ": it holds an end of the network, which moves the output almost by construction"
    return (
        f"layer {vul['argmax_layer']} (95% set {layer_set(vul.get('argmax_confidence_set'))}, "
        f"reliability {fmt(rel, '.2f')}){where}"
    )


def _vulnerability_rows(vul: dict[str, Any]) -> list[SummaryRow]:
    if not vul:
        return []
    i = vul.get("vulnerable_layer")
    rule = RULE_NAMES.get(vul.get("layer_rule", "argmax"), vul.get("layer_rule"))
    stable = bool(vul.get("stable"))
    rows = [SummaryRow(f"vulnerable layer ({rule})", vulnerable_line(vul), alert=i is None)]
    if i is not None:
        rows.append(SummaryRow("JS at the vulnerable layer", _js_value(vul, i)))
    if (ends := endpoint_line(vul)) is not None:
        rows.append(SummaryRow("global argmax of the JS profile", ends))
    verdict = "yes" if stable else "NO — " + (vul.get("warning") or "").split(": ", 1)[-1]
    reliability = vul.get("reliability") or {}
    per_layer = vul.get("massive_dims_per_layer")  # state site: elements of each state
    massive = sum(map(len, per_layer.values())) if per_layer else len(vul.get("massive_dims") or [])
    protocol = f"{vul.get('protocol', 'custom')} ({vul.get('mask_mode')} {vul.get('mask_ratio')}, "
    protocol += f"{vul.get('positions')} positions, site {vul.get('site', 'residual')})"
    return [
        *rows,
        SummaryRow("stable", verdict.split(". ")[0], alert=not stable),
        SummaryRow(
            "reliability of the JS profile",
            f"seeds {fmt(reliability.get('seeds'), '.2f')}, "
            f"prompts {fmt(reliability.get('prompts'), '.2f')} (split-half)",
        ),
        SummaryRow("per-seed vulnerable layers", json.dumps(vul.get("per_seed_vulnerable_layer"))),
        SummaryRow("vulnerability protocol", protocol),
        SummaryRow("massive channels", f"{massive} (protect: {vul.get('protect_massive')})"),
        SummaryRow(
            "scan path",
            f"{vul.get('path')} (replay err {fmt(vul.get('replay_max_abs_err'), '.1e')})",
        ),
    ]


def _js_value(vul: dict[str, Any], i: int) -> str:
    """The mean JS at layer ``i`` with its bootstrap band, and an interior peak's prominence
    (its uncertainty is the layer's 95% set, shown beside the layer)."""
    ci = (vul.get("js_ci95") or [None] * (i + 1))[i]
    band = f"95% CI {fmt(ci[0], '.3f')}–{fmt(ci[1], '.3f')}" if ci else ""
    std = (vul.get("js_std") or [None] * (i + 1))[i]
    value = f"{fmt(vul['js_mean'][i], '.3f')} ({band or '± ' + fmt(std, '.3f')})"
    inner = vul.get("interior") or {}
    if inner.get("prominence") is not None and vul.get("layer_rule") == "interior-peak":
        value += f", prominence {fmt(inner['prominence'], '.3f')} above its valleys"
    return value


def _method_rows(data: dict[str, Any], numbers: dict[str, Any]) -> list[SummaryRow]:
    rows = []
    if data.get("cka"):
        rows.append(
            SummaryRow("CKA critical layer (min δ)", fmt(numbers["cka_critical_layer"], ""))
        )
    if text := (data.get("spectral") or {}).get("text"):
        first = ", ".join(map(str, text["critical_layers"][:3])) or "–"
        rows.append(SummaryRow("CKA critical layers of generic text (no task data)", first))
    if ablation := data.get("ablation"):
        i = numbers["ablation_critical_layer"]
        drop = ablation["target_logprob_drop"][i] if i is not None else None
        value = f"{fmt(i, '')} (Δ log P(target) {fmt(drop, '.2f')} nats)"
        rows.append(SummaryRow("ablation critical layer", value))
    if tracing := data.get("causal_tracing"):
        i = numbers["tracing_critical_layer"]
        effect = tracing["indirect_effect"][i] if i is not None else None
        value = f"{fmt(i, '')} (indirect effect {fmt(effect, '.3f')})"
        rows.append(SummaryRow("causal tracing critical layer", value))
    if removal := data.get("removal"):
        rows.append(SummaryRow("layer removal: best criterion", _removal_value(removal)))
    return rows


def _criteria_rows(numbers: dict[str, Any]) -> list[SummaryRow]:
    """The most critical layer of every criterion measured (agreement or removal ran)."""
    chosen = numbers["criterion_layers"]
    if not chosen:
        return []
    value = ", ".join(f"{name} {fmt(layer, '')}" for name, layer in chosen.items())
    return [SummaryRow("most critical layer per criterion (argmax)", value)]


def _removal_value(removal: dict[str, Any]) -> str:
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


def suite_line(summary: dict[str, Any]) -> str:
    """One suite's summary in words (``results.suites[name]``)."""
    accuracy = f"first-token accuracy {fmt(summary.get('accuracy'), '.3f')}"
    parts = [f"{summary.get('items')} items", accuracy]
    if "particle_median" in summary:
        parts.append(
            f"particle {fmt(summary['particle_median'], 'g')} "
            f"(IQR {fmt(summary.get('particle_iqr'), 'g')}, "
            f"none {fmt(summary.get('none_fraction'), '.0%')})"
        )
    if summary.get("vulnerable_layer") is not None:
        parts.append(f"vulnerable layer {summary['vulnerable_layer']}")
    return ", ".join(parts)
