"""The claims of "Spectral Insights into Data-Oblivious Critical Layers" (Liu et al. 2025)
on the bundled real models (docs/spectral.md).

For each model: one run of ``--methods spectral`` (which pulls in ``cka``) over the suites
(``--max-prompts`` of each) with the text pass on (``spectral.text_windows`` windows of the
held-out lens corpus). From it: the text's critical layers beside each suite's (Spearman
of the δ profiles with its bootstrap interval), the suites beside each other, the split of
``1 − CKA`` at the pairs around the run's critical layers, and the lens readout of the
leading component there. Writes ``benchmarks/results/spectral.json`` and the generated part
of ``docs/spectral.md`` between its markers (the prose around it stays); ``--runs DIR``
keeps each run (for ``scripts/crosscheck_spectral.py``).

    OMP_NUM_THREADS=1 python benchmarks/spectral.py [--models smollm2-135m,gemma3-270m]
        [--tasks capitals,antonyms,facts,arithmetic,sequences,translation]
        [--max-prompts 40] [--windows 128] [--runs DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from pathlib import Path

import numpy as np
from common import RESULTS

from layertracer import trace
from layertracer.methods.metrics import spearman
from layertracer.methods.spectral.core import decompose, pca, top_share
from layertracer.results import Results, atomic_write

DOC = Path(__file__).parents[1] / "docs" / "spectral.md"
MARKERS = ("<!-- generated: start -->", "<!-- generated: end -->")
TASKS = "capitals,antonyms,facts,arithmetic,sequences,translation"


def _f(value: object, digits: int = 2) -> str:
    return (
        f"{value:.{digits}f}" if isinstance(value, (int, float)) and math.isfinite(value) else "–"
    )


def _floats(values: list) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def _block_spearman(a: list, b: list) -> float:
    x, y = _floats(a)[1:], _floats(b)[1:]
    both = np.isfinite(x) & np.isfinite(y)
    return spearman(x[both], y[both]) if both.sum() >= 3 else math.nan


SWEEP = (1, 2, 4, 8)


def sweep(reps: np.ndarray, pair: int) -> dict[str, list[float]]:
    """Pair ``(pair, pair+1)`` for each k of :data:`SWEEP`: ``[top share, top-k energy]``."""
    x, y = (pca(reps[:, layer].astype(np.float64), max(SWEEP)) for layer in (pair, pair + 1))
    out = {}
    for k in SWEEP:
        part = decompose(x, y, k)
        share = top_share(np.array([part["shift_top"]]), np.array([part["shift_rest"]]))[0]
        out[str(k)] = [float(share), part["energy_top"]]
    return out


def measure(model: str, tasks: str, max_prompts: int, windows: int, runs: Path | None) -> dict:
    """One model's run and the numbers the tables show."""
    start = time.perf_counter()
    options = {"max_prompts": max_prompts, "methods": "spectral", "batch_size": 16,
               "spectral.text_windows": windows, "device": "cpu"}  # fmt: skip
    results = trace(model, tasks, options)
    seconds = time.perf_counter() - start
    if runs is not None:
        results.save(runs / model)
    return summarize(model, results, seconds)


def summarize(model: str, results: Results, seconds: float) -> dict:
    """The tables' numbers of one run (``results`` with a ``spectral`` section)."""
    data = results.to_dict(arrays=False)
    sp, cka = data["spectral"], data["cka"]
    suites = sp["suites"]
    cross = [_block_spearman(suites[a]["delta"], suites[b]["delta"])
             for a, b in itertools.combinations(suites, 2)]  # fmt: skip
    pairs = sp["pairs"]
    around = []
    chosen = sorted({p for c in cka["critical_layers"][:3] for p in (c - 1, c)})
    reps = results.arrays.get("spectral_representations")
    for p in chosen:  # pair p is layers (p, p+1)
        if 0 <= p < len(sp["top_share"]):
            row = {name: values[p] for name, values in pairs.items()}
            row.update(
                pair=[p, p + 1],
                top_share=sp["top_share"][p],
                angle1=sp["principal_angles_deg"][p][0],
            )
            if reps is not None:
                row["top_share_k"] = sweep(reps, p)
            around.append(row)
    shares = _floats(sp["top_share"])
    evr = [sum(v or 0 for v in row) for row in sp["explained_variance_ratio"]]
    return {
        "model": model, "L": data["model"]["num_layers"], "n": sp["n"], "k": sp["k"],
        "seconds": round(seconds, 1) if math.isfinite(seconds) else None,
        "accuracy": data["accuracy"],
        "run_critical": cka["critical_layers"][:3], "text": sp["text"], "suites": suites,
        "suite_pairs_spearman": [float(v) for v in cross],
        "around": around, "median_top_share": float(np.nanmedian(shares)),
        "min_top_share": float(np.nanmin(shares)),
        "median_evr_top": float(np.nanmedian(evr[1:])),
        "readout": [r for r in sp["readout"] if r["component"] == 1],
    }  # fmt: skip


def _suite_rows(row: dict) -> list[str]:
    """The table of each suite's δ profile beside the text's."""
    out = ["| suite | n | critical layers (δ) | Spearman with text [95% CI] | same top-1 | "
           "top-3 shared |", "|---|---|---|---|---|---|"]  # fmt: skip
    for name, s in row["suites"].items():
        ci = s.get("spearman_ci95")
        interval = f"[{_f(ci[0])}, {_f(ci[1])}]" if ci else "–"
        same = "yes" if s["same_layer"] else "no"
        out.append(f"| {name} | {s['items']} | {s['critical_layers']} | "
                   f"{_f(s['spearman'])} {interval} | {same} | {s['shared_top']}/3 |")  # fmt: skip
    return out


def _pair_rows(row: dict) -> list[str]:
    """The table of the split of 1 − CKA at the pairs around the critical layers."""
    sweep_head = " | ".join(f"k={k}: share / energy" for k in SWEEP)
    out = [f"| pair | 1 − CKA | top | rest | cross | CKA top-k | CKA rest | angle 1 (°) | "
           f"{sweep_head} |", "|---" * (8 + len(SWEEP)) + "|"]  # fmt: skip
    for a in row["around"]:
        cells = [f"{a['pair'][0]}→{a['pair'][1]}", _f(a["shift"], 3), _f(a["shift_top"], 3),
                 _f(a["shift_rest"], 3), _f(a["shift_cross"], 3), _f(a["cka_top"]),
                 _f(a["cka_rest"]), _f(a["angle1"], 0)]  # fmt: skip
        cells += [f"{_f(v[0])} / {_f(v[1])}" for v in a.get("top_share_k", {}).values()]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _readout_rows(row: dict) -> list[str]:
    """The lens readout of PC 1 at the layers around the critical layers."""
    out = ["| layer | PC1 variance | + side | − side |", "|---|---|---|---|"]
    for r in row["readout"]:
        plus, minus = (" ".join(f"`{t.strip() or repr(t)}`" for t in r[side])
                       for side in ("plus", "minus"))  # fmt: skip
        out.append(f"| {r['layer']} | {_f(r['ratio'])} | {plus} | {minus} |")
    return out


def tables(rows: list[dict]) -> str:
    """The generated markdown of docs/spectral.md."""
    out = []
    for row in rows:
        text, cross = row["text"], row["suite_pairs_spearman"]
        out += [f"### {row['model']} (L = {row['L']}, {row['n']} prompts, k = {row['k']}, "
                f"{_f(row['seconds'], 0)} s)", "",
                f"Text ({text['windows']} windows of {text['window_tokens']} tokens): critical "
                f"layers {text['critical_layers'][:3]}; all prompts together: "
                f"{row['run_critical']}.", "", *_suite_rows(row), "",
                f"Suites with each other: Spearman of the δ profiles over {len(cross)} pairs "
                f"of suites: median {_f(float(np.nanmedian(cross)))}, min "
                f"{_f(float(np.nanmin(cross)))}, max {_f(float(np.nanmax(cross)))}.", "",
                *_pair_rows(row), "",
                f"Top share (k = {row['k']}) over all pairs: median "
                f"{_f(row['median_top_share'])}, min {_f(row['min_top_share'])}; the top "
                f"{row['k']} components' share of the variance (median over layers 1..L): "
                f"{_f(row['median_evr_top'])}.", "", *_readout_rows(row), ""]  # fmt: skip
    return "\n".join(out)


def write_doc(generated: str) -> None:
    """Replaces the text between the markers of docs/spectral.md."""
    text = DOC.read_text(encoding="utf-8")
    head, _, rest = text.partition(MARKERS[0])
    _, _, tail = rest.partition(MARKERS[1])
    atomic_write(DOC, f"{head}{MARKERS[0]}\n{generated}\n{MARKERS[1]}{tail}")


def _earlier_seconds() -> dict[str, float]:
    """Seconds per model in ``benchmarks/results/spectral.json``, if it exists."""
    path = RESULTS / "spectral.json"
    rows = json.loads(path.read_text()) if path.is_file() else []
    return {row["model"]: row["seconds"] for row in rows if row.get("seconds") is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--tasks", default=TASKS)
    parser.add_argument("--max-prompts", type=int, default=40)
    parser.add_argument("--windows", type=int, default=128)
    parser.add_argument("--runs", type=Path, default=None)
    parser.add_argument(
        "--from-runs",
        action="store_true",
        help="re-read the runs kept in --runs instead of running again",
    )
    args = parser.parse_args()
    rows = []
    for model in args.models.split(","):
        if args.from_runs:  # the seconds of the earlier measurement, when it is there
            seconds = _earlier_seconds().get(model, math.nan)
            rows.append(summarize(model, Results.load(args.runs / model), seconds))
            continue
        rows.append(measure(model, args.tasks, args.max_prompts, args.windows, args.runs))
        print(f"{model}: {rows[-1]['seconds']} s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "spectral.json").write_text(json.dumps(rows, indent=1) + "\n")
    generated = tables(rows)
    print(generated)
    if DOC.is_file() and MARKERS[0] in DOC.read_text(encoding="utf-8"):
        write_doc(generated)


if __name__ == "__main__":
    main()
