"""Reading a run for the report: a ``Results``, a results.json object, a file or a directory.

The report is drawn from the results.json object alone (a plain ``dict``, validated by
:class:`~layertracer.results.Results`), so a report rebuilt from the file is identical to
the one written by ``run``. Sections that a run did not compute (``particles``,
``vulnerability``, ``cka``, ``ablation``, ``causal_tracing``, ``agreement``) are simply
absent and their figures are skipped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from layertracer.errors import ReportError
from layertracer.results import Results, load


def run_data(source: Results | dict[str, Any] | str | Path) -> dict[str, Any]:
    """The results.json object of a run, validated and normalised through JSON.

    Args:
        source: A ``Results``, a results.json object, a results.json path or a run directory.

    Returns:
        The object exactly as ``json.loads`` of the saved file would give it.

    Raises:
        ResultsError: Missing directory or file, malformed JSON, or a malformed section
            (the message names the JSON path of the first problem).
    """
    if isinstance(source, (str, Path)):
        results = load(source)
    elif isinstance(source, Results):
        results = source
    else:
        results = Results.from_dict(source)
    data: dict[str, Any] = json.loads(json.dumps(results.to_dict(arrays=False)))
    model = data["model"]
    if len(model["layer_types"]) != model["num_layers"]:
        model["layer_types"] = ["unknown"] * model["num_layers"]
    _layers_in_range(data, int(model["num_layers"]))
    return data


# Fields that name layer states (each an index 0..L, or a list of them), wherever they sit.
LAYER_FIELDS = frozenset(
    {"vulnerable_layer", "particle_layer", "critical_layer", "critical_layers",
     "confidence_set", "per_seed_vulnerable_layer", "argmax_layer", "argmax_confidence_set",
     "candidate", "particle_layer_other"}
)  # fmt: skip


def _layers_in_range(data: dict[str, Any], L: int) -> None:
    """Refuses a results object whose layer fields name a layer state outside ``0..L``.

    Raises:
        ReportError: The first such field, by its JSON path.
    """
    stack: list[tuple[str, Any]] = [("", data)]  # JSON nodes
    while stack:
        path, node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            where = f"{path}.{key}" if path else str(key)
            if key in LAYER_FIELDS or where == "particles.layers":
                bad = [v for v in _ints(value) if not 0 <= v <= L]
                if bad:
                    raise ReportError(f"{where}: layer {bad[0]} is not a layer state 0..{L}")
            elif isinstance(value, (dict, list)):
                stack.append((where, value))


def _ints(value: object) -> list[int]:
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def output_dir(path: str | Path) -> Path:
    """``path`` as an existing directory (created if needed)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


def layer_states(data: dict[str, Any]) -> list[str]:
    """The kind of every layer state: ``embedding`` for state 0, then the block types."""
    return ["embedding", *map(str, data["model"]["layer_types"])]


def num_layers(data: dict[str, Any]) -> int:
    """``L``, the number of blocks."""
    return int(data["model"]["num_layers"])


def floats(values: list[Any]) -> np.ndarray:
    """A per-layer list as a float array, ``None`` (a layer that does not apply) as NaN."""
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def probs_matrix(data: dict[str, Any]) -> np.ndarray:
    """Target probability of every prompt at every layer state. # [N, L+1]"""
    return np.array([floats(row["target_prob"]) for row in data["prompts"]])


def run_label(data: dict[str, Any]) -> str:
    """A short name for a run: model spec and task."""
    task = data.get("task", {}).get("name") or data.get("config", {}).get("task", "")
    return f"{data['model'].get('spec', data['model'].get('model_type', '?'))} · {task}"
