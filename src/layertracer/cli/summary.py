"""The summary table printed at the end of a run (rows from :mod:`layertracer.results.summary`)."""

from __future__ import annotations

from rich.table import Table

from layertracer.results import Results
from layertracer.results.summary import suite_line, summary_rows


def summary_table(results: Results) -> Table:
    """The run's summary rows (alerts in red), then one line per suite."""
    data = results.to_dict()
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
