"""A run's results as tidy pandas DataFrames (long format: one row per observation), for
``Results.to_frame(section)``.

Sections (those the run computed; :func:`available` lists them):

- ``prompts``: one row per prompt with its scalar fields (id, prompt, target, target
  token, final probability, correct, particle layer, ...).
- ``lens``: one row per prompt × layer state: ``id``, ``suite``, ``layer``,
  ``target_prob``, the lens's top token and its probability, the prompt's
  ``particle_layer`` (and ``answer_logprob`` with ``--full-target``).
- ``layers``: one row per layer state: block type, mean and median target probability,
  and every run-level per-layer array of the methods that ran (``vulnerability_js_mean``,
  ``cka_delta``, ``ablation_target_logprob_drop``, ...).
- ``similarity``: one row per layer state: Block Influence ``bi`` and ``angular`` distance.
- ``particles``: prompts per particle layer; ``sensitivity``: one row per δ.
- ``vulnerability``: one row per seed × layer: ``js`` with the layer's ``js_mean`` and
  ``js_std`` over seeds (and whether the seed's mask hit a massive channel).
- ``cka``: one row per ``layer_a`` × ``layer_b``.
- ``ablation``, ``causal_tracing`` (or ``tracing``): one row per layer state.
- ``criteria``: one row per criterion × layer state: its run-level ``value`` (the
  agreement curve, else the removal score; higher = more critical), its ``label`` and
  whether the layer is its ``chosen`` (most critical) one.
- ``agreement``: one row per pair of criteria; ``layer_a``/``layer_b`` are the chosen
  layers.
- ``removal``: one row per criterion × ``k`` blocks removed (``k = 0..K``): the block
  removed at step ``k`` (``removed_block``; none for ``random``), ``accuracy``,
  ``target_logprob``, ``kl`` (and ``random``'s band as ``<name>_low``/``<name>_high``).
- ``suites``: one row per suite.

One column per number: an interval ``[low, high]`` (``*_ci95``, ``*_band``) becomes
``<name>_low`` and ``<name>_high``, also where it is absent. A layer that a method does not
apply to is ``NaN``; a column with no value at all is a float column of ``NaN``. pandas is optional
(``pip install 'layertracer[notebook]'``) and imported only here, when a frame is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from layertracer.errors import ResultsError
from layertracer.results.criteria import chosen_layers, curves_of, lookup

Rows = list[dict[str, Any]]
INSTALL = "pip install 'layertracer[notebook]'"


def to_frame(data: dict[str, Any], section: str) -> Any:
    """The tidy DataFrame of ``section`` of a results.json object (see module docstring).

    Raises:
        ResultsError: An unknown section, or one this run did not compute (the message
            lists the available ones), or pandas is not installed (with the command).
    """
    name = ALIASES.get(section, section)
    have = available(data)
    if name not in have:
        known = "unknown section" if name not in SECTIONS else "this run has no section"
        raise ResultsError(f"to_frame: {known} {section!r}; available: {', '.join(have)}")
    try:
        import pandas as pd
    except ImportError:
        raise ResultsError(f"to_frame needs pandas: {INSTALL}") from None
    frame = pd.DataFrame.from_records(SECTIONS[name][1](data))
    for column in frame.columns[frame.isna().all()]:  # all missing: float NaN, not object
        frame[column] = frame[column].astype(float)
    return frame


def available(data: dict[str, Any]) -> list[str]:
    """The sections this run has frames for, in a fixed order."""
    return [
        name
        for name, (needs, _) in SECTIONS.items()
        if needs is None or any(data.get(key) for key in needs.split("|"))
    ]


def _put(row: dict[str, Any], key: str, value: object) -> None:
    """Sets ``row[key]``; an interval ``[low, high]`` (or an absent ``*_ci95``/``*_band``)
    as ``key_low`` and ``key_high``; other lists and dicts are left out."""
    if isinstance(value, list) and len(value) == 2 and not isinstance(value[0], (list, dict)):
        row[f"{key}_low"], row[f"{key}_high"] = value
    elif value is None and key.endswith(("_ci95", "_band")):
        row[f"{key}_low"] = row[f"{key}_high"] = None
    elif not isinstance(value, (list, dict)):
        row[key] = value


def _prompts(data: dict[str, Any]) -> Rows:
    return [
        {k: v for k, v in row.items() if not isinstance(v, (list, dict))} for row in data["prompts"]
    ]


def _lens(data: dict[str, Any]) -> Rows:
    rows = []
    for n, row in enumerate(data["prompts"]):
        topk, answer = row.get("topk"), row.get("answer_logprob")
        for layer, prob in enumerate(row["target_prob"]):
            entry = {"id": row.get("id", n), "suite": row.get("suite"), "layer": layer}
            entry["target_prob"] = prob
            if topk:
                entry["top_token"], entry["top_prob"] = topk[layer][0]
            if answer:
                entry["answer_logprob"] = answer[layer]
            entry["particle_layer"] = row.get("particle_layer")
            rows.append(entry)
    return rows


def _layers(data: dict[str, Any]) -> Rows:
    import numpy as np

    types = ["embedding", *data["model"]["layer_types"]]
    probs = np.array(
        [[np.nan if p is None else p for p in r["target_prob"]] for r in data["prompts"]]
    )
    rows = [
        {"layer": i, "block_type": kind, "target_prob_mean": m, "target_prob_median": md}
        for i, (kind, m, md) in enumerate(
            zip(types, probs.mean(axis=0), np.median(probs, axis=0), strict=True)
        )
    ]
    for section, name, shape in _per_layer_table():
        values = (data.get(section) or {}).get(name)
        if shape == "layers" and isinstance(values, list):
            for row, value in zip(rows, values, strict=True):
                _put(row, f"{section}_{name}", value)
    return rows


def _per_layer_table() -> tuple[tuple[str, str, str], ...]:
    """``(section, field, kind)`` of every per-layer field (the document's, which imports
    this module: read when a frame is built)."""
    from layertracer.results.document import PER_LAYER

    return PER_LAYER


def _per_layer(section: str) -> Callable[[dict[str, Any]], Rows]:
    """One row per layer state with the section's per-layer arrays."""

    def rows(data: dict[str, Any]) -> Rows:
        part = data[section]
        names = [n for s, n, shape in _per_layer_table() if s == section and shape == "layers"]
        names = [n for n in names if isinstance(part.get(n), list)]
        rows: Rows = [{"layer": i} for i in range(data["model"]["num_layers"] + 1)]
        for name in names:
            for row, value in zip(rows, part[name], strict=True):
                _put(row, name, value)
        return rows

    return rows


def _particles(data: dict[str, Any]) -> Rows:
    return [{"layer": i, "prompts": c} for i, c in enumerate(data["particles"]["histogram"])]


def _sensitivity(data: dict[str, Any]) -> Rows:
    table = data["particles"].get("sensitivity") or {}
    return [
        {"delta": float(d), **stats}
        for d, stats in sorted(table.items(), key=lambda kv: float(kv[0]))
    ]


def _vulnerability(data: dict[str, Any]) -> Rows:
    vul = data["vulnerability"]
    mean, std = vul.get("js_mean") or [], vul.get("js_std") or []
    massive = vul.get("masked_massive") or {}
    rows = []
    for seed, curve in zip(vul.get("seeds") or [], vul.get("js") or [], strict=False):
        hit = massive.get(str(seed))
        for layer, js in enumerate(curve):
            entry = {"seed": seed, "layer": layer, "js": js}
            entry["js_mean"] = mean[layer] if layer < len(mean) else None
            entry["js_std"] = std[layer] if layer < len(std) else None
            if hit is not None:
                entry["masked_massive"] = hit[layer]
            rows.append(entry)
    return rows


def _cka(data: dict[str, Any]) -> Rows:
    matrix = data["cka"]["matrix"]
    return [
        {"layer_a": a, "layer_b": b, "cka": value}
        for a, row in enumerate(matrix)
        for b, value in enumerate(row)
    ]


def _criteria(data: dict[str, Any]) -> Rows:
    chosen = chosen_layers(data)
    rows = []
    for name, curve in curves_of(data).items():
        known = lookup(name)
        label = None if known is None else known.label
        for layer, value in enumerate(curve):
            entry = {"criterion": name, "label": label, "layer": layer, "value": value}
            rows.append({**entry, "chosen": layer == chosen[name]})
    return rows


def _agreement(data: dict[str, Any]) -> Rows:
    part = data["agreement"]
    chosen = part.get("chosen_layers") or {}
    rows = []
    for pair in part.get("pairs") or []:
        entry: dict[str, Any] = {}
        for key, value in pair.items():
            _put(entry, key, value)
        entry["layer_a"], entry["layer_b"] = chosen.get(pair["a"]), chosen.get(pair["b"])
        rows.append(entry)
    return rows


def _removal(data: dict[str, Any]) -> Rows:
    part = data["removal"]
    rows = []
    for criterion, curve in part["curves"].items():
        order = part.get("orders", {}).get(criterion) or []
        for k, accuracy in enumerate(curve["accuracy"]):
            entry: dict[str, Any] = {"criterion": criterion, "k": k}
            entry["removed_block"] = order[k - 1] if 0 < k <= len(order) else None
            entry["accuracy"] = accuracy
            entry["target_logprob"] = curve["target_logprob"][k]
            entry["kl"] = curve["kl"][k]
            for name in ("accuracy", "target_logprob", "kl"):
                band = curve.get(f"{name}_band")
                _put(entry, f"{name}_band", band[k] if band else None)
            rows.append(entry)
    return rows


def _suites(data: dict[str, Any]) -> Rows:
    return [  # without the per-layer js_mean (one number per cell)
        {"suite": name, **{k: v for k, v in summary.items() if not isinstance(v, list)}}
        for name, summary in data["suites"].items()
    ]


# name -> (the results.json key it needs, "a|b": either, or None: always there; its rows)
SECTIONS: dict[str, tuple[str | None, Callable[[dict[str, Any]], Rows]]] = {
    "prompts": (None, _prompts),
    "lens": (None, _lens),
    "layers": (None, _layers),
    "similarity": ("similarity", _per_layer("similarity")),
    "particles": ("particles", _particles),
    "sensitivity": ("particles", _sensitivity),
    "vulnerability": ("vulnerability", _vulnerability),
    "cka": ("cka", _cka),
    "ablation": ("ablation", _per_layer("ablation")),
    "causal_tracing": ("causal_tracing", _per_layer("causal_tracing")),
    "criteria": ("agreement|removal", _criteria),
    "agreement": ("agreement", _agreement),
    "removal": ("removal", _removal),
    "suites": ("suites", _suites),
}
ALIASES = {"tracing": "causal_tracing"}
