"""The tables of the interior-vulnerability study (``python benchmarks/interior.py table``):
per model × suite, the layer each definition names with its 95% set and reliability, and
how much of the profile the suites share."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from layertracer.methods.vulnerability.interior import RULES, interior_layer, interior_mask
from layertracer.methods.vulnerability.shared import shared_profile
from layertracer.methods.vulnerability.stability import uncertainty


def suites_of(path: Path) -> dict[str, np.ndarray]:
    data = np.load(path)
    return {k.split(":", 1)[1]: data[k].astype(np.float64) for k in data.files if k[:3] == "js:"}


def cell(js: np.ndarray, rule: str) -> str:
    """One definition on one scan: layer, 95% set, interior seed reliability, verdict."""
    if rule == "argmax":
        found = uncertainty(js)
        layer = int(np.nanargmax(js.mean(axis=(0, 1))))
        rel = found.reliability["seeds"]
        ok = found.stable()
        chosen = found.confidence_set
    else:
        got = interior_layer(js, rule)
        layer, rel, ok = got.layer, got.reliability["seeds"], got.stands_out
        chosen = got.confidence_set
    shown = "–" if layer is None else str(layer)
    members = ",".join(map(str, sorted(chosen))) or "∅"
    return f"{shown} {{{members}}} {rel:.2f}{' ✓' if ok else ''}"


def print_tables(paths: list[Path], development: tuple[str, ...]) -> None:
    print("| model | suite | split | " + " | ".join(RULES) + " | peak prominence [95% CI] |")
    print("|---|---|---|" + "---|" * len(RULES) + "---|")
    for path in paths:
        model = path.stem.removeprefix("interior-")
        for suite, js in suites_of(path).items():
            split = "development" if suite in development else "held out"
            if suite == "text":
                split = "control"
            cells = [cell(js, rule) for rule in RULES]
            got = interior_layer(js, "interior-peak")
            prom = "–"
            if got.prominence is not None:
                low, high = got.prominence_ci95
                prom = f"{got.prominence:.3f} [{low:.3f}, {high:.3f}]"
            print(f"| {model} | {suite} | {split} | " + " | ".join(cells) + f" | {prom} |")
    print()
    print("| model | layers | suites | between | within | shared [95% CI] |")
    print("|---|---|---|---|---|---|")
    for path in paths:
        model = path.stem.removeprefix("interior-")
        tasks = {k: v for k, v in suites_of(path).items() if k != "text"}
        width = next(iter(tasks.values())).shape[2]
        inside = interior_mask(np.ones(width, dtype=bool), 2)
        for name, mask in (("all", None), ("interior", inside)):
            for label, group in (("tasks", tasks), ("tasks + text", suites_of(path))):
                got = shared_profile(group, mask)
                low, high = got.shared_ci95
                print(
                    f"| {model} | {name} | {label} ({len(got.suites)}) | {got.between:.2f} | "
                    f"{got.within:.2f} | {got.shared:.2f} [{low:.2f}, {high:.2f}] |"
                )
