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


def verdict(js: np.ndarray, rule: str) -> tuple[int | None, list[int], float, bool]:
    """One definition on one scan: its layer, 95% set, seed reliability and whether it
    stands out (``argmax``: the global argmax and the run's stability verdict)."""
    if rule == "argmax":
        found = uncertainty(js)
        layer = int(np.nanargmax(js.mean(axis=(0, 1))))
        return layer, found.confidence_set, found.reliability["seeds"], found.stable()
    got = interior_layer(js, rule)
    return got.layer, got.confidence_set, got.reliability["seeds"], got.stands_out


def cell(js: np.ndarray, rule: str) -> str:
    """One definition on one scan: layer, 95% set, interior seed reliability, verdict."""
    layer, chosen, rel, ok = verdict(js, rule)
    shown = "–" if layer is None else str(layer)
    members = ",".join(map(str, sorted(chosen))) or "∅"
    return f"{shown} {{{members}}} {rel:.2f}{' ✓' if ok else ''}"


def print_tables(
    paths: list[Path], development: tuple[str, ...], controls: tuple[str, ...]
) -> None:
    print("| model | suite | split | " + " | ".join(RULES) + " | peak prominence [95% CI] |")
    print("|---|---|---|" + "---|" * len(RULES) + "---|")
    for path in paths:
        model = path.stem.removeprefix("interior-")
        for suite, js in suites_of(path).items():
            split = "development" if suite in development else "held out"
            if suite in controls:
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
        first = {k: v for k, v in suites_of(path).items() if "@" not in k}  # no replicates
        tasks = {k: v for k, v in first.items() if k not in controls}
        width = next(iter(tasks.values())).shape[2]
        inside = interior_mask(np.ones(width, dtype=bool), 2)
        for name, mask in (("all", None), ("interior", inside)):
            for label, group in (("tasks", tasks), ("tasks + controls", first)):
                got = shared_profile(group, mask)
                low, high = got.shared_ci95
                print(
                    f"| {model} | {name} | {label} ({len(got.suites)}) | {got.between:.2f} | "
                    f"{got.within:.2f} | {got.shared:.2f} [{low:.2f}, {high:.2f}] |"
                )
    print()
    replication(paths)


def replication(paths: list[Path]) -> None:
    """Per held-out suite with a replicate (fresh prompts, fresh seeds) and per definition:
    the verdicts of both scans, and whether they agree (both name no layer, or both stand out
    and each layer lies in the other scan's 95% set); then, per definition, how often the
    named layer sits on the interior's edge (layer m or L−m) or at an end."""
    print("| model | suite | " + " | ".join(f"{r}: first / replicate" for r in RULES) + " |")
    print("|---|---|" + "---|" * len(RULES))
    edge = {rule: [0, 0] for rule in RULES}
    for path in paths:
        model, suites = path.stem.removeprefix("interior-"), suites_of(path)
        for suite in [k for k in suites if f"{k}@B" in suites]:
            cells = []
            for rule in RULES:
                a, b = verdict(suites[suite], rule), verdict(suites[f"{suite}@B"], rule)
                overlap = bool(set(a[1]) & set(b[1]))
                same = (not a[3] and not b[3]) or (a[3] and b[3] and overlap)
                cells.append(f"{_said(a)} / {_said(b)} {'✓' if same else '✗'}")
            print(f"| {model} | {suite} | " + " | ".join(cells) + " |")
        for rule in RULES:
            for js in suites.values():
                layer, L = verdict(js, rule)[0], js.shape[2] - 1
                edge[rule][0] += layer in (0, 1, 2, L - 2, L - 1, L)
                edge[rule][1] += 1
    print()
    for rule, (hits, total) in edge.items():
        print(f"- {rule}: the named layer is on the interior's edge or an end in {hits}/{total}")


def _said(v: tuple[int | None, list[int], float, bool]) -> str:
    return str(v[0]) if v[3] else f"none ({v[0]})"
