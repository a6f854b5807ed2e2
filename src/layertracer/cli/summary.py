"""The summary printed at the end of a run: the table, or with ``--json`` the JSON object
(rows from :mod:`layertracer.results.summary`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from layertracer.results import Results
from layertracer.results.summary import key_numbers, suite_line, summary_rows


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


def summary_json(results: Results, path: Path, report: Path | None) -> dict[str, Any]:
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
