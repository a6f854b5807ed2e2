"""Replication of the full protocol on a list of models and tasks, as one table.

Protocol (the defaults of ``layertracer run``): 3 mask seeds (0, 1, 2), mask ratio 0.2,
mode ``zero`` at all positions, particle δ = 0.05 with the sensitivity table over
δ = 0.03…0.08, and every implemented method (``--methods all``: lens, particles,
vulnerability, CKA, ablation, causal tracing, agreement), except that causal tracing
skips its layer × position map (``map_prompts=0``; the per-layer indirect effect the table
uses is unchanged). Each model is loaded once.

Writes ``benchmarks/results/replication.json`` (one summary row per model × task, with
every agreement pair) and a markdown table (``benchmarks/results/replication.md``;
``docs/replication.md`` quotes it). ``--runs DIR`` also keeps each run's results.json.

    OMP_NUM_THREADS=1 python benchmarks/replicate.py [--models smollm2-135m]
        [--tasks all|capitals,antonyms,...] [--max-prompts N] [--runs DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from layertracer import RunConfig, trace
from layertracer.config import ALL_METHODS, TracingConfig
from layertracer.model.load import load_model
from layertracer.results import Results, atomic_write
from layertracer.tasks import list_suites

RESULTS = Path(__file__).parent / "results"


def summary_row(model: str, task: str, results: Results, seconds: float) -> dict:
    """The table's measures of one run (``None`` where a section did not run)."""
    data = results.to_dict()
    L = data["model"]["num_layers"]
    part, vul = data.get("particles") or {}, data.get("vulnerability") or {}
    median, vl = part.get("median"), vul.get("vulnerable_layer")
    sens = [v.get("median") for v in (part.get("sensitivity") or {}).values()]
    sens = [v for v in sens if v is not None]
    return {
        "model": model,
        "task": task,
        "prompts": len(data["prompts"]),
        "L": L,
        "particle_median": median,
        "particle_median_rel": None if median is None else median / L,
        "particle_iqr": part.get("iqr"),
        "particle_none_fraction": part.get("none_fraction"),
        "particle_median_sensitivity": [min(sens), max(sens)] if sens else None,
        "vulnerable_layer": vl,
        "js_max_mean": None if vl is None else vul["js_mean"][vl],
        "js_max_std": None if vl is None else vul["js_std"][vl],
        "seed_agreement": vul.get("seed_agreement"),
        "accuracy": data["accuracy"],
        "cka_critical_layer": (data.get("cka") or {}).get("critical_layer"),
        "ablation_critical_layer": (data.get("ablation") or {}).get("critical_layer"),
        "tracing_critical_layer": (data.get("causal_tracing") or {}).get("critical_layer"),
        "agreement": (data.get("agreement") or {}).get("pairs", []),
        "chosen_layers": (data.get("agreement") or {}).get("chosen_layers", {}),
        "seconds": round(seconds, 1),
    }


def _f(value: object, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def main_table(rows: list[dict]) -> list[str]:
    """One line per model × task."""
    lines = [
        "| model | task | n | L | median particle (rel.) | median over δ 0.03–0.08 | "
        "vulnerable layer | max JS mean ± std | seed agr. | accuracy | CKA / ablation / "
        "tracing layer |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sens = r["particle_median_sensitivity"]
        crit = " / ".join(
            _f(r[k], "") for k in ("cka_critical_layer", "ablation_critical_layer",
                                   "tracing_critical_layer")
        )  # fmt: skip
        lines.append(
            f"| {r['model']} | {r['task']} | {r['prompts']} | {r['L']} | "
            f"{_f(r['particle_median'], 'g')} ({_f(r['particle_median_rel'])}) | "
            f"{'–' if sens is None else f'{sens[0]:g}–{sens[1]:g}'} | "
            f"{_f(r['vulnerable_layer'], '')} | "
            f"{_f(r['js_max_mean'], '.3f')} ± {_f(r['js_max_std'], '.3f')} | "
            f"{_f(r['seed_agreement'])} | {_f(r['accuracy'])} | {crit} |"
        )
    return lines


def agreement_table(rows: list[dict]) -> list[str]:
    """One line per criterion pair, one column per run: Spearman [95% CI]."""
    pairs = list(dict.fromkeys((p["a"], p["b"]) for r in rows for p in r["agreement"]))
    one_model = len({r["model"] for r in rows}) == 1
    labels = [r["task"] if one_model else f"{r['model']} · {r['task']}" for r in rows]
    lines = [
        "| pair | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(rows),
    ]
    for a, b in pairs:
        cells = []
        for r in rows:
            p = next((p for p in r["agreement"] if (p["a"], p["b"]) == (a, b)), None)
            ci = (p or {}).get("spearman_ci95")
            cell = _f((p or {}).get("spearman"))
            cells.append(cell + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""))
        lines.append(f"| {a} – {b} | " + " | ".join(cells) + " |")
    return lines


def markdown(rows: list[dict], command: str) -> str:
    """The replication tables as markdown."""
    return "\n".join(
        [
            f"Command: `{command}`",
            "",
            *main_table(rows),
            "",
            "Agreement between per-layer criteria (Spearman over layers, bootstrap 95% CI "
            "over prompts):",
            "",
            *agreement_table(rows),
            "",
        ]
    )


def main() -> None:
    """Runs every model × task and writes the JSON rows and the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="smollm2-135m", help="comma list of model specs")
    parser.add_argument("--tasks", default="all", help="comma list of tasks, or all")
    parser.add_argument("--max-prompts", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--runs", type=Path, default=None, help="keep each run's results here")
    parser.add_argument("--out", type=Path, default=RESULTS / "replication.json")
    args = parser.parse_args()
    tasks = [s.name for s in list_suites()] if args.tasks == "all" else args.tasks.split(",")
    rows = []
    for spec in args.models.split(","):
        lm = load_model(spec, "auto", "float32")
        for task in tasks:
            cfg = RunConfig(
                model=spec, task=task, max_prompts=args.max_prompts,
                batch_size=args.batch_size, methods=ALL_METHODS,
                tracing=TracingConfig(map_prompts=0),  # the table needs no position map
            )  # fmt: skip
            start = time.perf_counter()
            results = trace(lm, task, cfg)
            rows.append(summary_row(spec, task, results, time.perf_counter() - start))
            if args.runs:
                results.save(args.runs / f"{Path(spec).name}-{task}")
            print(f"{spec} {task}: {rows[-1]['seconds']} s", flush=True)
    command = "OMP_NUM_THREADS=1 python benchmarks/replicate.py " + " ".join(
        f"--{k.replace('_', '-')} {v}"
        for k, v in (("models", args.models), ("tasks", args.tasks),
                     ("max_prompts", args.max_prompts))
        if v is not None
    )  # fmt: skip
    payload = {"command": command, "methods": list(ALL_METHODS), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, json.dumps(payload, indent=1) + "\n")
    atomic_write(args.out.with_suffix(".md"), markdown(rows, command))
    print(markdown(rows, command))


if __name__ == "__main__":
    main()
