"""Independently re-compute a run's vulnerability uncertainty from its arrays.npz
(docs/method.md#stability): the split-half reliabilities, js_ci95, argmax_frequency and
confidence_set, written out here from the definitions with plain loops — nothing of the
package's statistics code is used (only numpy's generator, seeded as the method states).

    python scripts/crosscheck_stability.py RUN_DIR

Prints the largest differences and exits 1 on FAIL (any difference above 1e-9, or a
different confidence set).
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
    return max(-1.0, min(1.0, 2 * r / (1 + r))) if r > -1 else -1.0


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
    for axis, name in ((1, "seeds"), (0, "prompts")):
        mine, theirs = reliability(js, axis, layers), section["reliability"][name]
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
    print(f"confidence_set: run {section['confidence_set']}, recomputed {chosen}")
    print(f"max |difference| (reliability, js_ci95, argmax_frequency): {worst:.3e}")
    failed = failed or worst > 1e-9 or chosen != section["confidence_set"]
    print("FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
