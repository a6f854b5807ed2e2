"""Layer removal on real models: which criterion of "critical layers" guides pruning best,
and does the paper's JS vulnerability beat random orders? (docs/method.md#layer-removal)

For each model × suite: ``layertracer run --methods lens,particles,vulnerability,removal``
(which pulls in cka, ablation and tracing; tracing without its position map), the JS
criterion from ``--protocol`` (``paper``: zero masks, 3 seeds, the first study's;
``stable``: the default protocol), the defaults otherwise (K = max(1, L // 4), 5 random
orders). ``--no-tracing`` leaves causal tracing out (its order does not depend on the
protocol; it is the slowest stage). Prints the time per stage of every run, writes
``benchmarks/results/removal-<protocol>.json`` (``removal.json`` for ``paper``) and the
generated part of ``docs/removal.md`` between its ``generated:<protocol>`` markers (the
prose around it stays). ``--runs DIR`` keeps each run's results.json (for
``scripts/crosscheck_removal.py``).

    OMP_NUM_THREADS=1 python benchmarks/removal.py [--models smollm2-135m,gemma3-270m]
        [--tasks capitals,antonyms,facts] [--max-prompts 48] [--protocol paper|stable]
        [--no-tracing] [--runs DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from common import RESULTS

from layertracer import RunConfig, VulnerabilityConfig, trace
from layertracer.config import TracingConfig, parse_methods
from layertracer.model.load import load_model
from layertracer.results import Results, atomic_write
from layertracer.results.timing import stage_seconds

DOC = Path(__file__).parents[1] / "docs" / "removal.md"
MARKERS = {
    "paper": ("<!-- generated: start -->", "<!-- generated: end -->"),
    "stable": ("<!-- generated:stable: start -->", "<!-- generated:stable: end -->"),
}
ORDER = ("js", "cka", "ablation", "tracing", "lens_slope", "bi", "angular", "random")


class StagePrinter:
    """Progress that prints every stage's time as it ends."""

    def __init__(self, label: str) -> None:
        self.label = label

    @contextlib.contextmanager
    def stage(self, name: str, total: int) -> Iterator[Callable[[], None]]:
        """Times one stage and prints it."""
        start = time.perf_counter()
        yield lambda: None
        print(f"  {self.label} {name}: {time.perf_counter() - start:.0f} s", flush=True)


def summary_row(model: str, task: str, results: Results, seconds: float) -> dict:
    """The measures of one run that the tables show."""
    data = results.to_dict()
    removal = data["removal"]
    return {
        "model": model,
        "task": task,
        "prompts": len(data["prompts"]),
        "L": data["model"]["num_layers"],
        "accuracy": data["accuracy"],
        "K": removal["max_blocks"],
        "best": removal["best"],
        "not_removable": removal["not_removable"],
        "path": removal["path"],
        "pruned_models": removal["pruned_models"],
        "orders": {
            name: order[: removal["max_blocks"]] for name, order in removal["orders"].items()
        },
        "curves": removal["curves"],
        "seconds": round(seconds, 1),
        "timing": data["timing"],
    }


def _f(value: object, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


def area_cell(curve: dict, best: bool) -> str:
    """``accuracy AUC / log-prob AUC``, bold for the best criterion."""
    text = f"{_f(curve.get('accuracy_auc'))} / {_f(curve.get('logprob_auc'))}"
    return f"**{text}**" if best else text


def areas_table(rows: list[dict]) -> list[str]:
    """One line per model × suite: every criterion's two areas, random's band, the best."""
    head = ["model", "suite", "N", "acc(0)", "K", *ORDER, "random acc-AUC band", "best"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        rnd, curves = r["curves"].get("random", {}), r["curves"]
        band = rnd.get("accuracy_auc_band") or rnd.get("logprob_auc_band")
        cells = [
            r["model"], r["task"], str(r["prompts"]), _f(r["accuracy"], ".2f"), str(r["K"]),
            *[area_cell(curves[c], c == r["best"]) if c in curves else "–" for c in ORDER],
            "–" if not band else f"[{band[0]:.3f}, {band[1]:.3f}]",
            r["best"] or "–",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def verdict_table(rows: list[dict]) -> list[str]:
    """Per run: each criterion above, within or below the random band."""
    names = [c for c in ORDER if c != "random"]
    lines = ["| model | suite | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for r in rows:
        cells = [str(r["curves"].get(c, {}).get("vs_random") or "–") for c in names]
        lines.append(f"| {r['model']} | {r['task']} | " + " | ".join(cells) + " |")
    return lines


def curve_table(row: dict, key: str) -> list[str]:
    """One run's ``key`` (accuracy, target_logprob) for every ``k``, one line per criterion."""
    K = row["K"]
    lines = ["| criterion | " + " | ".join(f"k={k}" for k in range(K + 1)) + " |"]
    lines.append("|---|" + "---|" * (K + 1))
    for name in ORDER:
        if name in row["curves"]:
            values = row["curves"][name][key]
            lines.append(f"| {name} | " + " | ".join(_f(v, ".3f") for v in values) + " |")
    return lines


def timing_table(rows: list[dict]) -> list[str]:
    """Seconds per stage of every run."""
    stages = ("lens", "vulnerability", "cka", "ablation", "tracing", "removal_probe", "removal")
    lines = ["| model | suite | " + " | ".join(stages) + " | total |"]
    lines.append("|---|---|" + "---|" * (len(stages) + 1))
    for r in rows:
        cells = [_f(r["timing"].get(s), ".0f") for s in stages]
        lines.append(
            f"| {r['model']} | {r['task']} | " + " | ".join(cells) + f" | {r['seconds']:.0f} |"
        )
    return lines


def wins(rows: list[dict]) -> str:
    """How often each criterion was best, and JS against random, in words."""
    best = {}
    for r in rows:
        best[r["best"]] = best.get(r["best"], 0) + 1
    js = [r["curves"].get("js", {}).get("vs_random") for r in rows]
    counts = ", ".join(f"{name} {n}" for name, n in sorted(best.items(), key=lambda x: -x[1]))
    verdicts = {v: js.count(v) for v in ("above", "within", "below")}
    return (
        f"Best criterion (largest accuracy AUC) over the {len(rows)} runs: {counts}. JS "
        f"vulnerability against the band of the random orders: above in {verdicts['above']}, "
        f"within in {verdicts['within']}, below in {verdicts['below']}."
    )


def markdown(rows: list[dict], command: str, protocol: str) -> str:
    """The generated part of docs/removal.md for one protocol."""
    start, end = MARKERS[protocol]
    parts = [
        start,
        f"Commands: `{command}`",
        "",
        wins(rows),
        "",
        "Areas under the curves, `accuracy AUC / log-prob AUC` (1 = nothing lost, higher = "
        "better; the best criterion in bold; random = mean of its 5 orders):",
        "",
        *areas_table(rows),
        "",
        "Each criterion's deciding area against the band of the random orders' areas:",
        "",
        *verdict_table(rows),
        "",
    ]
    for r in rows:
        parts += [f"**{r['model']} · {r['task']}**: accuracy per blocks removed (first "
                  f"blocks removed: " + "; ".join(f"{n} {o}" for n, o in r["orders"].items()) + ")",
                  "", *curve_table(r, "accuracy"), ""]  # fmt: skip
    parts += [
        "Seconds per stage (one thread on 2 busy CPU cores shared with other jobs, `nice -n 10`):",
        "",
        *timing_table(rows),
        "",
        end,
    ]
    return "\n".join(parts)


def write_doc(text: str, protocol: str) -> None:
    """Replaces the protocol's generated part of docs/removal.md (or appends it)."""
    start, end = MARKERS[protocol]
    old = DOC.read_text() if DOC.exists() else "# Layer removal\n"
    if start not in old or end not in old:
        old += f"\n{start}\n{end}\n"
    head, rest = old.split(start, 1)
    atomic_write(DOC, head + text + rest.split(end, 1)[1])


def merged(path: Path, command: str, rows: list[dict]) -> dict:
    """The protocol's file with ``rows`` added: rows of the same model × suite replaced,
    the others kept (a model can be run on its own), every command that made them listed."""
    old = json.loads(path.read_text()) if path.is_file() else {"rows": []}
    done = {(r["model"], r["task"]) for r in rows}
    kept = [r for r in old["rows"] if (r["model"], r["task"]) not in done]
    commands = old.get("commands") or ([old["command"]] if "command" in old else [])
    commands = [c for c in commands if c != command] if kept else []
    return {"commands": [*commands, command], "rows": kept + rows}


def main() -> None:
    """Runs every model × suite, prints the stage times, writes the JSON and the doc."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--tasks", default="capitals,antonyms,facts")
    parser.add_argument("--max-prompts", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--runs", type=Path, default=None, help="keep each run's results here")
    parser.add_argument("--protocol", default="paper", choices=tuple(MARKERS))
    parser.add_argument("--no-tracing", action="store_true", help="leave causal tracing out")
    args = parser.parse_args()
    rows = []
    for spec in args.models.split(","):
        lm = load_model(spec, "auto", "float32")
        for task in args.tasks.split(","):
            methods = parse_methods("lens,particles,vulnerability,removal")
            if args.no_tracing:
                methods = tuple(m for m in methods if m != "tracing")
            cfg = RunConfig(
                model=spec, task=task, max_prompts=args.max_prompts, batch_size=args.batch_size,
                methods=methods,
                tracing=TracingConfig(map_prompts=0),  # removal needs no position map
                vulnerability=VulnerabilityConfig.preset(args.protocol),
            )  # fmt: skip
            start = time.perf_counter()
            results = trace(lm, task, cfg, progress=StagePrinter(f"{spec} {task}"))
            rows.append(summary_row(spec, task, results, time.perf_counter() - start))
            if args.runs:
                results.save(args.runs / f"{Path(spec).name}-{task}")
            seconds = stage_seconds(results.timing)
            stages = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items() if v)
            print(f"{spec} {task}: {rows[-1]['seconds']} s ({stages}); best {rows[-1]['best']}",
                  flush=True)  # fmt: skip
    command = (
        f"OMP_NUM_THREADS=1 python benchmarks/removal.py --models {args.models} "
        f"--tasks {args.tasks} --max-prompts {args.max_prompts} --protocol {args.protocol}"
        + (" --no-tracing" if args.no_tracing else "")
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "removal.json" if args.protocol == "paper" else f"removal-{args.protocol}.json"
    payload = merged(RESULTS / name, command, rows)
    atomic_write(RESULTS / name, json.dumps(payload, indent=1) + "\n")
    text = markdown(payload["rows"], "`; `".join(payload["commands"]), args.protocol)
    write_doc(text, args.protocol)
    print(text)


if __name__ == "__main__":
    main()
