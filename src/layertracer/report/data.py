"""Reading a run for the report: a ``Results``, a results.json object, a file or a directory.

The report is drawn from the results.json object alone (a plain ``dict``), so a report
rebuilt from the file is identical to the one written by ``run``. Sections that a run did
not compute (``particles``, ``vulnerability``, ``cka``, ``ablation``, ``causal_tracing``,
``agreement``) are simply absent and their figures are skipped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from layertracer.errors import ReportError
from layertracer.results import SCHEMA_VERSION, Results

# Top-level sections added by optional methods; kept even where ``Results`` lacks a field.
EXTRA_SECTIONS = ("cka", "ablation", "causal_tracing", "agreement")


def run_data(source: Results | dict | str | Path) -> dict:
    """The results.json object of a run, checked and normalised through JSON.

    Args:
        source: A ``Results``, a results.json object, a results.json path or a run directory.

    Returns:
        The object exactly as ``json.loads`` of the saved file would give it.

    Raises:
        ReportError: Missing directory or file, malformed JSON, or a wrong shape.
    """
    if isinstance(source, (str, Path)):
        data, where = read_results(Path(source)), str(source)
    elif isinstance(source, Results):
        data, where = source.to_dict(), "results"
        for key in EXTRA_SECTIONS:
            if getattr(source, key, None) is not None:
                data[key] = getattr(source, key)
    else:
        data, where = dict(source), "results"
    data = json.loads(json.dumps(data, default=_plain))
    validate(data, where)
    return data


def read_results(path: Path) -> dict:
    """Parses ``path`` (results.json or the run directory holding one)."""
    if not path.exists():
        raise ReportError(f"{path}: no such file or directory")
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise ReportError(f"{path}: no results.json here (run `layertracer run --out DIR`)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ReportError(f"{file}: not a text file ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{file}:{exc.lineno}: malformed JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ReportError(f"{file}: expected a JSON object, found {type(data).__name__}")
    return data


def validate(data: dict, where: str) -> None:
    """Checks what every figure relies on: schema, ``model.num_layers``, per-layer arrays."""
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ReportError(
            f"{where}: schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}"
        )
    try:
        Results.from_dict(data)
    except TypeError as exc:
        raise ReportError(f"{where}: not a layertracer results object ({exc})") from None
    model = data["model"]
    L = model.get("num_layers") if isinstance(model, dict) else None
    if not isinstance(L, int) or L < 1:
        raise ReportError(f"{where}: model.num_layers must be a positive integer")
    if not isinstance(data["prompts"], list) or not data["prompts"]:
        raise ReportError(f"{where}: prompts must be a non-empty list")
    for n, row in enumerate(data["prompts"]):
        probs = row.get("target_prob") if isinstance(row, dict) else None
        if not isinstance(probs, list) or len(probs) != L + 1:
            raise ReportError(f"{where}: prompts[{n}].target_prob must have L+1 = {L + 1} entries")
    types = model.get("layer_types")
    if not isinstance(types, list) or len(types) != L:
        model["layer_types"] = ["unknown"] * L


def output_dir(path: str | Path) -> Path:
    """``path`` as an existing directory (created if needed)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


def layer_states(data: dict) -> list[str]:
    """The kind of every layer state: ``embedding`` for state 0, then the block types."""
    return ["embedding", *map(str, data["model"]["layer_types"])]


def num_layers(data: dict) -> int:
    """``L``, the number of blocks."""
    return int(data["model"]["num_layers"])


def floats(values: list[Any]) -> np.ndarray:
    """A per-layer list as a float array, ``None`` (a layer that does not apply) as NaN."""
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def probs_matrix(data: dict) -> np.ndarray:
    """Target probability of every prompt at every layer state. # [N, L+1]"""
    return np.array([floats(row["target_prob"]) for row in data["prompts"]])


def run_label(data: dict) -> str:
    """A short name for a run: model spec and task."""
    task = data.get("task", {}).get("name") or data.get("config", {}).get("task", "")
    return f"{data['model'].get('spec', data['model'].get('model_type', '?'))} · {task}"


def _plain(value: object) -> object:
    """JSON fallback for numpy scalars and arrays (and tuples of them)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
