"""``report.html`` and ``compare.html``: jinja2 templates with autoescaping.

Every value reaches the page through a template variable, so every user string (prompts,
targets, ids, model specs, paths) is HTML-escaped; figures are ``data:`` URIs. The pages
load nothing from anywhere: no external URL, stylesheet or script file.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import jinja2

from layertracer.config import ALL_METHODS
from layertracer.report.data import num_layers, run_label
from layertracer.report.figures import sensitivity_rows
from layertracer.report.removal import removal_note, removal_rows
from layertracer.report.topk import visible
from layertracer.results.criteria import chosen_layers, lookup
from layertracer.results.summary import fmt as _fmt
from layertracer.results.summary import summary_rows as results_summary


@dataclass(frozen=True)
class Drawn:
    """A figure as the page shows it."""

    name: str
    title: str
    caption: str
    uri: str
    link: tuple[str, str] | None = None  # (href, text) shown after the caption


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment: package templates, autoescape on, undefined is an error."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("layertracer.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context: object) -> str:
    """Renders ``templates/<template>`` with ``context``."""
    return environment().get_template(template).render(**context)


def flatten(value: object, prefix: str = "") -> list[tuple[str, str]]:
    """Nested dicts as ``(dotted.key, value)`` rows; lists and scalars as compact JSON."""
    if isinstance(value, dict) and value:
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows += flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return rows
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return [(prefix, text)]


def block_summary(types: list[str]) -> str:
    """Block types run-length encoded: ``mamba ×2, attention ×2``."""
    return ", ".join(f"{kind} ×{len(list(run))}" for kind, run in groupby(types))


def summary_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary table: the rows every front end shows (:mod:`layertracer.results.summary`)."""
    return [(row.measure, row.value) for row in results_summary(data)]


def suite_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-suite table (``results.suites``), numbers formatted for reading."""
    rows = []
    for name, suite in (data.get("suites") or {}).items():
        if not isinstance(suite, dict):
            continue
        rows.append(
            {
                "name": str(name),
                "count": _fmt(suite.get("items"), ""),
                "accuracy": _fmt(suite.get("accuracy"), ".3f"),
                "particle": _fmt(suite.get("particle_median"), "g"),
                "iqr": _fmt(suite.get("particle_iqr"), "g"),
                "none": _fmt(suite.get("none_fraction"), ".0%"),
                "vulnerable": _fmt(suite.get("vulnerable_layer"), ""),
            }
        )
    return rows


def prompt_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per prompt for the sortable table."""
    L = num_layers(data)
    rows = []
    for n, row in enumerate(data["prompts"]):
        final = row.get("final_prob", row["target_prob"][L])
        rows.append(
            {
                "n": n,
                "id": str(row.get("id", n)),
                "prompt": str(row.get("prompt", "")),
                "target": str(row.get("target", "")),
                "particle": row.get("particle_layer"),
                "final": final,
                "correct": row.get("correct"),
                "answer_correct": row.get("answer_correct"),
                "top1": visible(row.get("top1_token", "")),
            }
        )
    return rows


def agreement_rows(agreement: dict[str, Any]) -> list[dict[str, Any]]:
    """The agreement pairs with numbers rounded for reading."""

    def num(value: object) -> str:
        if isinstance(value, list):
            return "[" + ", ".join(num(v) for v in value) + "]"
        return f"{value:.3g}" if isinstance(value, (int, float)) else _fmt(value, "")

    keys: tuple[str, ...] = ("spearman", "spearman_ci95", "pearson", "pearson_ci95")
    keys += ("layer_distance", "layer_distance_ci95")
    chosen = agreement.get("chosen_layers") or {}
    return [
        {
            **{key: num(pair.get(key)) for key in keys},
            **{key: str(pair.get(key)) for key in ("a", "b")},
            **{f"l{key}": _fmt(chosen.get(pair.get(key)), "") for key in ("a", "b")},
        }
        for pair in agreement.get("pairs") or []
        if isinstance(pair, dict)
    ]


def criteria_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every criterion of the run: what it measures, what higher means, its colour and its
    most critical layer (a criterion of another version: its name alone)."""
    rows = []
    for name, layer in chosen_layers(data).items():
        known = lookup(name)
        rows.append(
            {
                "name": name,
                "label": "–" if known is None else known.label,
                "higher": "–" if known is None else known.higher,
                "colour": "#444444" if known is None else known.colour,
                "layer": _fmt(layer, ""),
            }
        )
    return rows


def agreement_note(agreement: dict[str, Any]) -> str:
    """How the agreement table was computed, in one sentence."""
    boot = agreement.get("bootstrap") or {}
    if not agreement:
        return ""
    held = [f"{k} {v}" for k, v in boot.items() if k in (agreement.get("criteria") or [])]
    cka = f" {', '.join(held)} in the bootstrap." if held else ""
    return (
        f"Per-layer criteria ({agreement.get('direction', 'higher = more critical')}), "
        f"correlated over the layers where both apply; chosen layer = each criterion's argmax "
        f"(in brackets). 95% CIs: {boot.get('samples', '?')} bootstrap resamples of the "
        f"prompts, seed {boot.get('seed', '?')}.{cka}"
    )


def ran_config(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration without the settings of methods that did not run (results.json
    keeps them all): ``tracing.*`` only when tracing ran."""
    ran = set(config.get("methods") or ALL_METHODS)
    return {k: v for k, v in config.items() if k not in ALL_METHODS or k in ran}


def report_context(data: dict[str, Any], figures: list[Drawn], notes: list[str]) -> dict[str, Any]:
    """Everything ``report.html.j2`` shows."""
    vul = data.get("vulnerability") or {}
    alert = vul.get("warning")
    model = dict(data["model"])
    model["layer_types"] = block_summary(model.get("layer_types", []))
    return {
        "title": f"layertracer report — {run_label(data)}",
        "label": run_label(data),
        "alert": alert,
        "warnings": [w for w in data.get("warnings", []) if w != alert],
        "summary": summary_rows(data),
        "suites": suite_rows(data),
        "sensitivity": sensitivity_rows(data.get("particles") or {}),
        "criteria": criteria_rows(data),
        "agreement": agreement_rows(data.get("agreement") or {}),
        "agreement_note": agreement_note(data.get("agreement") or {}),
        "removal": removal_rows(data),
        "removal_note": removal_note(data),
        "figures": figures,
        "notes": notes,
        "prompts": prompt_rows(data),
        "full_answer": data.get("answer_accuracy") is not None,
        "sections": [
            ("Model", flatten(model)),
            ("Task", flatten(data.get("task", {}))),
            ("Configuration", flatten(ran_config(data.get("config", {})))),
            ("Environment", flatten(data.get("environment", {}))),
            ("Timing (seconds)", flatten(data.get("timing", {}))),
        ],
        "tool": data.get("tool", {}),
    }
