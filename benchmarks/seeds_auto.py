"""Does ``--seeds auto`` (4 seeds, then 4 more at a time until stable) give the default's
answer (6 seeds)? One scan per model × task with seeds 0..7 answers both, because a seed's
JS does not depend on which other seeds run: the default's section is the summary of the
first 6 seeds, auto's that of the first 4 if it is stable, else of the first 8 (if that is
not stable either, auto would go on: the row says so). Prints one line per model × task;
writes ``benchmarks/results/seeds_auto.json``.

    OMP_NUM_THREADS=1 python benchmarks/seeds_auto.py --models smollm2-135m \\
        --tasks capitals,antonyms
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from common import write

from layertracer import RunConfig, VulnerabilityConfig, load_model, trace
from layertracer.engine.replay import ReplayPath
from layertracer.methods.vulnerability.perturb import MaskPlan
from layertracer.methods.vulnerability.scan import ScanState
from layertracer.methods.vulnerability.section import summarize
from layertracer.results import Results

SEEDS = tuple(range(8))


def section(results: Results, count: int) -> dict:
    """The vulnerability section of the first ``count`` seeds of a run's scan."""
    js = results.arrays["js"].astype(np.float64)[:, :count]  # [N, S, L+1]
    dims = results.arrays["masked_dims"][:count]  # [S, L+1, k], -1: none
    cfg = dataclasses.replace(results_config(results), seeds=SEEDS[:count])
    plan = MaskPlan(
        SEEDS[:count],
        [[[int(c) for c in layer if c >= 0] for layer in seed] for seed in dims],
        np.zeros(0),
        np.zeros(0),
    )
    state = ScanState({n: js[n] for n in range(len(js))}, ReplayPath())
    return summarize(state, plan, cfg, list(results.vulnerability.massive_dims or []))


def results_config(results: Results) -> VulnerabilityConfig:
    """The run's vulnerability protocol (the default's, with seeds 0..7)."""
    return RunConfig(vulnerability=VulnerabilityConfig(seeds=SEEDS)).vulnerability


def answer(found: dict) -> dict:
    """What a user reads: the layer, its confidence set, reliability and stability."""
    keys = ("vulnerable_layer", "confidence_set", "reliability", "stable")
    return {k: found.get(k) for k in keys}


def compare(model: str, task: str, prompts: int | None) -> dict:
    """One scan with seeds 0..7, then the default's and auto's answers from it."""
    lm = load_model(model, "cpu")
    config = RunConfig(vulnerability=VulnerabilityConfig(seeds=SEEDS), max_prompts=prompts)
    start = time.process_time()
    results = trace(lm, task, config)
    cpu = time.process_time() - start
    own = answer(results.vulnerability.model_dump())
    if answer(section(results, 8)) != own:  # the recomputation must reproduce the run's own
        raise SystemExit(f"{model} {task}: the 8-seed section recomputed from arrays.npz differs")
    default = answer(section(results, 6))
    four = answer(section(results, 4))
    auto, used = (four, 4) if four["stable"] else (answer(section(results, 8)), 8)
    same = auto["vulnerable_layer"] == default["vulnerable_layer"] and set(
        auto["confidence_set"] or ()
    ) == set(default["confidence_set"] or ())  # the set, in whatever order it is listed
    row = {
        "model": model, "task": task, "prompts": len(results.prompts), "default_6": default,
        "auto": auto, "auto_seeds": used, "auto_done": bool(auto["stable"]), "same": same,
        "scan_s_8_seeds": results.timing["vulnerability"], "cpu_s": round(cpu, 1),
    }  # fmt: skip
    print(
        f"{model} {task} ({row['prompts']} prompts): default {default} | auto ({used} seeds, "
        f"{'stable' if auto['stable'] else 'not stable: would go on'}) {auto} | same: {same}",
        flush=True,
    )
    return row


def main() -> None:
    """Runs every model × task and writes the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m")
    parser.add_argument("--tasks", default="capitals")
    parser.add_argument("--prompts", type=int, default=None, help="first N prompts")
    args = parser.parse_args()
    rows = [
        compare(model, task, args.prompts)
        for model in args.models.split(",")
        for task in args.tasks.split(",")
    ]
    print(f"wrote {write('seeds_auto', {'rows': rows})}")


if __name__ == "__main__":
    main()
