"""The vulnerability protocol study (issue 13): which perturbation design gives a vulnerable
layer that holds up, on real models, and at what cost.

For every model × task × design × positions, one scan with ``--seeds`` seeds (default 16)
keeps the per-prompt, per-seed JS (``arrays.npz``'s ``js``); for the first 4, 8 and 16
seeds of it, the package's stability statistics give the seed and prompt split-half
reliability, the size of the bootstrap 95% confidence set of the vulnerable layer, the
seed agreement and the vulnerable layer. Cost is the number of seeds relative to the
paper's protocol (3 seeds; every design replays the same blocks per seed) and the measured
scan time. Writes ``benchmarks/results/stability.json`` (every row, appended as it goes:
a killed study resumes where it stopped) and prints one line per row.

    OMP_NUM_THREADS=1 python benchmarks/stability.py --models smollm2-135m \\
        --tasks capitals,antonyms --prompts 24 --out benchmarks/results/stability-smollm2.json
    OMP_NUM_THREADS=1 python benchmarks/stability.py --models gemma3-270m \\
        --tasks capitals,antonyms --prompts 24 --out benchmarks/results/stability-gemma3.json
    python benchmarks/stability.py --table     # the table of docs/stability.md (all files)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import RESULTS

from layertracer import RunConfig, VulnerabilityConfig, load_model, trace
from layertracer.methods.vulnerability.stability import uncertainty

# (name, options over the paper's protocol); positions are crossed with every design.
PROTECT = {"protect_massive": "auto"}
DESIGNS = (  # in the order they run (the candidates for the default first)
    ("norm", {"mask_mode": "norm"}),
    ("zero", {}),
    ("mean+protect", {"mask_mode": "mean", "protect_massive": "auto"}),
    ("gaussian+protect", {"mask_mode": "gaussian", "protect_massive": "auto"}),
    ("zero+protect", {"protect_massive": "auto"}),
    ("mean+protect r=0.05", {"mask_mode": "mean", "protect_massive": "auto", "mask_ratio": 0.05}),
    ("gaussian+protect r=0.05", {"mask_mode": "gaussian", **PROTECT, "mask_ratio": 0.05}),
    ("norm r=0.05", {"mask_mode": "norm", "mask_ratio": 0.05}),
    ("norm+protect", {"mask_mode": "norm", **PROTECT}),
    ("norm+protect r=0.05", {"mask_mode": "norm", **PROTECT, "mask_ratio": 0.05}),
    ("norm r=0.01", {"mask_mode": "norm", "mask_ratio": 0.01}),
)  # fmt: skip
SEED_COUNTS = (4, 8, 16)
OUT = RESULTS / "stability.json"


def rows_of(js: np.ndarray, base: dict) -> list[dict]:
    """One row per seed count: the stability statistics of the first ``S`` seeds."""
    rows = []
    for count in SEED_COUNTS:
        if count > js.shape[1]:
            continue
        sub = js[:, :count]  # [N, S, L+1]
        found = uncertainty(sub, samples=1000, splits=100)
        mean = np.nanmean(sub, axis=(0, 1))
        layer = int(np.nanargmax(mean))
        per_seed = [int(np.nanargmax(np.nanmean(sub[:, s], axis=0))) for s in range(count)]
        rows.append(
            {
                **base,
                "seeds": count,
                "reliability_seeds": found.reliability["seeds"],
                "reliability_prompts": found.reliability["prompts"],
                "set_size": len(found.confidence_set),
                "confidence_set": found.confidence_set,
                "seed_agreement": float(np.mean([p == layer for p in per_seed])),
                "vulnerable_layer": layer,
                "peak_js": float(np.nanmax(mean)),
                "stable": found.stable(),
                "cost_vs_paper": count / 3,
                "seconds": base["seconds_all_seeds"] * count / js.shape[1],
            }
        )
    return rows


def done_keys(path: Path) -> set[tuple]:
    """The (model, task, design, positions) scans already in the results file."""
    if not path.is_file():
        return set()
    rows = json.loads(path.read_text())["rows"]
    return {(r["model"], r["task"], r["design"], r["positions"]) for r in rows}


def append(path: Path, rows: list[dict], command: str) -> None:
    data = json.loads(path.read_text()) if path.is_file() else {"command": command, "rows": []}
    data["rows"] += rows
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def scan(lm: object, task: str, design: dict, positions: str, args: argparse.Namespace) -> tuple:
    """The per-prompt JS ``[N, S, L+1]`` of one scan and its seconds."""
    vcfg = VulnerabilityConfig.preset(
        "paper", seeds=tuple(range(args.seeds)), positions=positions, bootstrap=0, **design
    )
    config = RunConfig(
        model=lm.spec, task=task, max_prompts=args.prompts, batch_size=args.batch_size,
        methods=("lens", "vulnerability"), vulnerability=vcfg,
    )  # fmt: skip
    results = trace(lm, task, config)
    return results.arrays["js"].astype(np.float64), results.timing["vulnerability"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m")
    parser.add_argument("--tasks", default="capitals,antonyms")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--designs", default=",".join(name for name, _ in DESIGNS))
    parser.add_argument("--positions", default="all,last", help="all, last or both")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--table", action="store_true", help="print the markdown table only")
    parser.add_argument(
        "--brief", action="store_true", help="print the table of the bar at 4 seeds only"
    )
    args = parser.parse_args()
    if args.table or args.brief:  # every results file of the study, one table
        files = sorted(RESULTS.glob("stability-*.json")) if args.out == OUT else [args.out]
        rows = [row for f in files for row in json.loads(f.read_text())["rows"]]
        print(brief(rows) if args.brief else table(rows))
        return
    wanted = [(n, d) for n, d in DESIGNS if n in args.designs.split(",")]
    done = done_keys(args.out)
    command = "python benchmarks/stability.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("table", "out")
    )
    for spec in args.models.split(","):
        lm = load_model(spec, "cpu")
        for task in args.tasks.split(","):
            grid = [(p, d) for p in args.positions.split(",") for d in wanted]
            for positions, (name, design) in grid:
                if (spec, task, name, positions) in done:
                    continue
                start = time.perf_counter()
                js, seconds = scan(lm, task, design, positions, args)
                base = {
                    "model": spec, "task": task, "design": name, "positions": positions,
                    "prompts": js.shape[0], "seconds_all_seeds": seconds,
                    "wall": time.perf_counter() - start,
                }  # fmt: skip
                rows = rows_of(js, base)
                append(args.out, rows, command)
                for row in rows:
                    print(line(row), flush=True)


def line(row: dict) -> str:
    """One row in words."""
    rel = row["reliability_seeds"]
    return (
        f"{row['model']:13s} {row['task']:9s} {row['design']:24s} {row['positions']:4s} "
        f"S={row['seeds']:2d} rel_seeds={'–' if rel is None else f'{rel:.2f}'} "
        f"rel_prompts={row['reliability_prompts']:.2f} set={row['set_size']} "
        f"agree={row['seed_agreement']:.2f} layer={row['vulnerable_layer']} "
        f"peak={row['peak_js']:.2f} cost={row['cost_vs_paper']:.1f}x {row['seconds']:.0f}s"
    )


BAR_SEEDS = 4  # the largest seed count of the study within 2× the paper's compute (6)


def meets_bar(row: dict) -> bool:
    """Seed reliability >= 0.9 and a 95% set of at most 3 layers (docs/stability.md)."""
    rel = row["reliability_seeds"]
    return rel is not None and rel >= 0.9 and row["set_size"] <= 3


def brief(rows: list[dict]) -> str:
    """One line per design × positions: at 4 seeds, each model × task cell's seed
    reliability and 95% set (✓ where it meets the bar), and how many of the measured
    cells do."""
    cells = sorted(
        {(r["model"], r["task"]) for r in rows}, key=lambda c: (c[0], c[1] != "capitals")
    )
    designs = list(dict.fromkeys((r["design"], r["positions"]) for r in rows))
    at = {
        (r["model"], r["task"], r["design"], r["positions"]): r
        for r in rows
        if r["seeds"] == BAR_SEEDS
    }
    head = "| design | positions | " + " | ".join(f"{m} {t}" for m, t in cells) + " | bar met |"
    out = [head, "|---|---|" + "---|" * len(cells) + "---|"]
    for design, positions in designs:
        found = [at.get((m, t, design, positions)) for m, t in cells]
        if not any(found):
            continue
        texts = [_cell(r) for r in found]
        met = sum(bool(r and meets_bar(r)) for r in found)
        measured = sum(r is not None for r in found)
        out.append(f"| {design} | {positions} | " + " | ".join(texts) + f" | {met}/{measured} |")
    return "\n".join(out)


def _cell(row: dict | None) -> str:
    if row is None:
        return "–"
    rel = "–" if row["reliability_seeds"] is None else f"{row['reliability_seeds']:.2f}"
    layers = ",".join(map(str, sorted(row["confidence_set"])))
    return f"{rel} {{{layers}}} peak {row['peak_js']:.2f}{' ✓' if meets_bar(row) else ''}"


def table(rows: list[dict]) -> str:
    """The markdown table: one line per model × task × design × positions × seeds."""
    head = (
        "| model | task | design | positions | seeds | seed reliability | prompt reliability "
        "| 95% set (size) | seed agreement | vulnerable layer | peak JS | cost vs paper "
        "| scan s |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    out = [head]
    for r in rows:
        rel = "–" if r["reliability_seeds"] is None else f"{r['reliability_seeds']:.2f}"
        cset = ", ".join(map(str, r["confidence_set"]))
        out.append(
            f"| {r['model']} | {r['task']} | {r['design']} | {r['positions']} | {r['seeds']} "
            f"| {rel} | {r['reliability_prompts']:.2f} | {{{cset}}} ({r['set_size']}) "
            f"| {r['seed_agreement']:.2f} | {r['vulnerable_layer']} | {r['peak_js']:.2f} "
            f"| {r['cost_vs_paper']:.1f}× | {r['seconds']:.0f} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    main()
