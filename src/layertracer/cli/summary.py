"""The summary printed at the end of a run: the table, or with ``--json`` the JSON object
(rows from :mod:`layertracer.results.summary`)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from layertracer.results import Results
from layertracer.results.criteria import chosen_layers
from layertracer.results.summary import suite_line, summary_rows


def summary_table(results: Results) -> Table:
    """The run's summary rows (alerts in red), then one line per suite."""
    data = results.to_dict(arrays=False)
    model = data["model"]
    table = Table(
        title=f"{model['spec']} ({model['model_type']}, L={model['num_layers']}) "
        f"on {data['task'].get('name')}"
    )
    table.add_column("measure")
    table.add_column("value")
    for row in summary_rows(data):
        table.add_row(row.measure, f"[red]{row.value}[/red]" if row.alert else row.value)
    for name, suite in (data.get("suites") or {}).items():
        table.add_row(f"suite {name}", suite_line(suite))
    return table


def key_numbers(data: dict) -> dict:
    """The run's headline numbers by name (``null`` where a method did not run)."""
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


def summary_json(results: Results, path: Path, report: Path | None) -> dict:
    """What ``run --json`` prints: the files, the summary rows, the key numbers, the
    per-suite summaries and the warnings."""
    data = results.to_dict(arrays=False)
    return {
        "results": str(path),
        "report": None if report is None else str(report),
        "model": data["model"]["spec"],
        "task": data["task"].get("name"),
        "summary": [
            {"measure": r.measure, "value": r.value, "alert": r.alert} for r in summary_rows(data)
        ],
        "numbers": key_numbers(data),
        "suites": data.get("suites") or {},
        "warnings": data.get("warnings") or [],
    }
