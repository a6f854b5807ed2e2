"""Independently re-compute a run's vulnerability uncertainty from its arrays.npz
(docs/method.md#stability, docs/method.md#interior-vulnerable-layer): the split-half
reliabilities, js_ci95, argmax_frequency and confidence set of the global argmax, and the
interior vulnerable layer (its peak, frequencies, confidence set, interior reliabilities and
verdict), written out here from the definitions with plain loops — nothing of the package's
statistics code is used (only numpy's generator, seeded as the method states).

    python scripts/crosscheck_stability.py RUN_DIR

Prints the largest differences and exits 1 on FAIL (any difference above 1e-9, or a
different confidence set or layer).
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np

SAMPLES, SPLITS, SEED = 1000, 100, 0


def ranks(values: list[float]) -> list[float]:
    """0-based ranks, ties given their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2
        i = j + 1
    return out


def correlation(a: list[float], b: list[float]) -> float:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    num = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    den = math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))
    return num / den if den > 0 else math.nan


def halves(count: int) -> list[list[int]]:
    """The first halves of the balanced splits: every distinct one if at most SPLITS (for an
    even count, those holding item 0), else SPLITS random permutations' first halves."""
    half = count // 2
    even = 2 * half == count
    total = math.comb(count, half) // (2 if even else 1)
    if total <= SPLITS:
        return [list(c) for c in itertools.combinations(range(count), half) if not even or 0 in c]
    rng = np.random.default_rng(SEED)
    return [sorted(rng.permutation(count)[:half].tolist()) for _ in range(SPLITS)]


def profile(js: np.ndarray, prompts: list[int], seeds: list[int], layers: list[int]) -> list[float]:
    """Mean JS per layer over the given prompts and seeds."""
    return [
        sum(js[n, s, i] for n in prompts for s in seeds) / (len(prompts) * len(seeds))
        for i in layers
    ]


def reliability(js: np.ndarray, axis: int, layers: list[int]) -> float | None:
    count = js.shape[axis]
    if count < 4:
        return None
    everyone = list(range(count))
    rs = []
    for first in halves(count):
        second = [i for i in everyone if i not in first]
        other = list(range(js.shape[1 - axis]))
        if axis == 0:
            a, b = profile(js, first, other, layers), profile(js, second, other, layers)
        else:
            a, b = profile(js, other, first, layers), profile(js, other, second, layers)
        rs.append(correlation(ranks(a), ranks(b)))
    r = sum(rs) / len(rs)
    if math.isnan(r):  # a constant half (or a single layer): undefined
        return r
    return max(-1.0, min(1.0, 2 * r / (1 + r))) if r > -1 else -1.0


def resampled(js: np.ndarray) -> np.ndarray:
    """Mean profiles ``[SAMPLES, L+1]`` of the prompts-and-seeds bootstrap resamples."""
    count, seeds, _ = js.shape
    rng = np.random.default_rng(SEED)
    prompt_draws = rng.integers(0, count, (SAMPLES, count))
    seed_draws = rng.integers(0, seeds, (SAMPLES, seeds))
    return np.stack(
        [js[prompt_draws[b]][:, seed_draws[b]].mean(axis=(0, 1)) for b in range(SAMPLES)]
    )


def smallest_set(counts: dict[int, int]) -> list[int]:
    """The fewest layers whose counts reach 95% of the resamples, most frequent first."""
    chosen, total = [], 0
    for layer in sorted(counts, key=lambda i: (-counts[i], i)):
        if total >= 0.95 * SAMPLES or counts[layer] == 0:
            break
        chosen.append(layer)
        total += counts[layer]
    return chosen if total >= 0.95 * SAMPLES else []


def peak_of(values: list[float], layers: list[int], inside: list[int]) -> int | None:
    """The interior layer of highest prominence (lower layer on ties), None without a peak:
    a peak exceeds its left neighbour and is at least its right one (the ends are none);
    its prominence is its height above the higher of the lowest points on each side before
    a strictly higher layer (or the end)."""
    best, best_prom = None, 0.0
    for j, layer in enumerate(layers):
        v = values[j]
        if layer not in inside or j == 0 or j == len(layers) - 1:
            continue
        if not (v > values[j - 1] and v >= values[j + 1]):
            continue
        left = v
        for k in range(j - 1, -1, -1):
            if values[k] > v:
                break
            left = min(left, values[k])
        right = v
        for k in range(j + 1, len(layers)):
            if values[k] > v:
                break
            right = min(right, values[k])
        prom = v - max(left, right)
        if prom > best_prom:
            best, best_prom = layer, prom
    return best


def interior(js: np.ndarray, layers: list[int], margin: int, boot: np.ndarray) -> dict:
    """The interior vulnerable layer, recomputed."""
    L = js.shape[2] - 1
    inside = [i for i in layers if margin <= i <= L - margin]
    full = [float(js[:, :, i].mean()) for i in layers]
    counts = {i: 0 for i in inside}
    for row in boot:
        found = peak_of([float(row[i]) for i in layers], layers, inside)
        if found is not None:
            counts[found] += 1
    rel = {name: reliability(js, axis, inside) for axis, name in ((1, "seeds"), (0, "prompts"))}
    layer, chosen = peak_of(full, layers, inside), smallest_set(counts)
    seeds = _number(rel["seeds"])
    stands = layer is not None and 0 < len(chosen) <= 4 and seeds is not None and seeds >= 0.8
    return {
        "layer": layer if stands else None,
        "set": chosen,
        "reliability": rel,
        "frequency": [counts.get(i, 0) / SAMPLES for i in range(L + 1)],
    }


def _number(value: float | None) -> float | None:
    """``None`` for a missing or NaN value (results.json writes NaN as null)."""
    return None if value is None or math.isnan(value) else value


def check_interior(js: np.ndarray, layers: list[int], section: dict, boot: np.ndarray) -> bool:
    """Compares the interior layer of the run with the recomputed one; True when equal."""
    margin = section["interior"]["margin"]
    mine = interior(js, layers, margin, boot)
    worst = max(
        abs(a - b) for a, b in zip(mine["frequency"], section["interior"]["frequency"], strict=True)
    )
    for name in ("seeds", "prompts"):
        a, b = (_number(x) for x in (mine["reliability"][name], section["reliability"][name]))
        if (a is None) != (b is None):
            worst = math.inf
        elif a is not None:
            worst = max(worst, abs(a - b))
    print(
        f"interior layer: run {section['vulnerable_layer']} set {section['confidence_set']}, "
        f"recomputed {mine['layer']} set {mine['set']}; max |difference| {worst:.3e}"
    )
    return (
        mine["layer"] == section["vulnerable_layer"]
        and mine["set"] == section["confidence_set"]
        and worst <= 1e-9
    )


def bootstrap(js: np.ndarray, layers: list[int]) -> tuple[list, list, list]:
    """Percentile intervals, argmax frequencies and the confidence set."""
    count, seeds, states = js.shape
    rng = np.random.default_rng(SEED)
    prompt_draws = rng.integers(0, count, (SAMPLES, count))
    seed_draws = rng.integers(0, seeds, (SAMPLES, seeds))
    profiles = np.empty((SAMPLES, len(layers)))
    for b in range(SAMPLES):
        chosen = js[prompt_draws[b]][:, seed_draws[b]]  # [N, S, L+1] resampled
        profiles[b] = chosen[:, :, layers].mean(axis=(0, 1))
    ci = [None] * states
    for k, layer in enumerate(layers):
        ci[layer] = np.percentile(profiles[:, k], [2.5, 97.5]).tolist()
    counts = [0] * states
    for b in range(SAMPLES):
        counts[layers[int(np.argmax(profiles[b]))]] += 1
    frequency = [c / SAMPLES if i in layers else None for i, c in enumerate(counts)]
    order = sorted(layers, key=lambda i: (-counts[i], i))
    chosen, total = [], 0
    for layer in order:
        if total >= 0.95 * SAMPLES or counts[layer] == 0:
            break
        chosen.append(layer)
        total += counts[layer]
    return ci, frequency, chosen


def main() -> int:
    run = Path(sys.argv[1])
    section = json.loads((run / "results.json").read_text())["vulnerability"]
    js = np.load(run / "arrays.npz")["js"].astype(np.float64)  # [N, S, L+1]
    layers = [i for i in range(js.shape[2]) if np.isfinite(js[:, :, i]).all()]
    worst, failed = 0.0, False
    rule = section.get("layer_rule", "argmax")
    argmax_set = section["confidence_set"] if rule == "argmax" else section["argmax_confidence_set"]
    argmax_rel = section["reliability"] if rule == "argmax" else section["argmax_reliability"]
    if rule == "interior-peak":
        failed = not check_interior(js, layers, section, resampled(js)[:, :])
    for axis, name in ((1, "seeds"), (0, "prompts")):
        mine, theirs = reliability(js, axis, layers), argmax_rel[name]
        if (mine is None) != (theirs is None):
            failed = True
        elif mine is not None:
            worst = max(worst, abs(mine - theirs))
        print(f"reliability.{name}: run {theirs}, recomputed {mine}")
    ci, frequency, chosen = bootstrap(js, layers)
    for mine, theirs in zip(ci, section["js_ci95"], strict=True):
        if mine is not None:
            worst = max(worst, *(abs(x - y) for x, y in zip(mine, theirs, strict=True)))
    for mine, theirs in zip(frequency, section["argmax_frequency"], strict=True):
        if mine is not None:
            worst = max(worst, abs(mine - theirs))
    print(f"argmax confidence set: run {argmax_set}, recomputed {chosen}")
    print(f"max |difference| (reliability, js_ci95, argmax_frequency): {worst:.3e}")
    failed = failed or worst > 1e-9 or chosen != argmax_set
    print("FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
