"""The machine's roofline in the same run: the matmul throughput of the model's own shapes,
then the demo's stages on a fixed subset, each stage's counted FLOPs against that rate.

Measures ``x @ Wᵀ`` for every weight shape of a block (and the unembedding) in float32
and in the run's dtype, at the rows one replay of the scan multiplies (seeds × batch ×
mean tokens) and at 2,048 rows; the stages' rate is compared with the best of those
(float32 mix of one block's matmuls, weighted by their FLOPs). The rate is measured
before and after the stages, and the fraction uses their mean.

On a shared machine wall time depends on the other jobs, so every time is taken twice:
wall seconds and this process's CPU seconds (``time.process_time``, all threads). The
CPU-time fraction (stage GFLOP per CPU-second over matmul GFLOP per CPU-second) does not
count the time the process waited for a core; it is the one to compare across runs.
Prints one table; writes ``benchmarks/results/roofline.json``.

    python benchmarks/roofline.py [--model smollm2-135m] [--prompts 24] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

import torch
from common import write

from layertracer import RunConfig, trace
from layertracer.engine.batching import plan_batches
from layertracer.model.anatomy import discover
from layertracer.model.load import LoadedModel, load_model
from layertracer.results.timing import stage_seconds
from layertracer.tasks import Task, load_task
from layertracer.tasks.encode import encode

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def block_shapes(lm: LoadedModel) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """The ``(in, out)`` of every 2-D weight of the first block, and of the unembedding."""
    anatomy = discover(lm.model, lm.tokenizer)
    shapes = [
        (int(p.shape[1]), int(p.shape[0])) for p in anatomy.blocks[0].parameters() if p.dim() == 2
    ]
    return shapes, (anatomy.hidden_size, anatomy.vocab_size)


def matmul_rate(
    shapes: list[tuple[int, int]], rows: int, dtype: torch.dtype, budget: float = 0.6
) -> tuple[float, float]:
    """GFLOP/s (per wall second, per CPU second) of one pass over ``shapes`` (a block's
    matmul mix) at ``rows`` rows: medians of repeated passes of ``2·rows·Σ in·out`` FLOPs."""
    pairs = [(torch.randn(rows, i, dtype=dtype), torch.randn(o, i, dtype=dtype)) for i, o in shapes]
    flops = 2.0 * rows * sum(i * o for i, o in shapes)
    wall: list[float] = []
    cpu: list[float] = []
    start = time.perf_counter()
    while len(wall) < 3 or (time.perf_counter() - start < budget and len(wall) < 200):
        w0, c0 = time.perf_counter(), time.process_time()
        for x, w in pairs:
            torch.nn.functional.linear(x, w)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return flops / statistics.median(wall[1:]) / 1e9, flops / statistics.median(cpu[1:]) / 1e9


def rates(lm: LoadedModel, rows: int, dtype: str) -> dict[str, list[float]]:
    """Matmul GFLOP/s ``[wall, cpu]`` of the block mix and of the unembedding, per dtype
    and row count."""
    shapes, unembed = block_shapes(lm)
    out = {}
    for name in dict.fromkeys(("float32", dtype)):
        budget = 0.6 if name == "float32" else 0.2  # a slow dtype: three passes at most
        for n in (rows, 2048):
            out[f"{name} block x{n}"] = matmul_rate(shapes, n, DTYPES[name], budget)
        out[f"{name} unembed x48"] = matmul_rate([unembed], 48, DTYPES[name], budget)
    return {k: [round(v, 2) for v in pair] for k, pair in out.items()}


class CpuClock:
    """A progress reporter that records each stage's CPU seconds (this process)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str, total: int) -> Iterator[Callable[[], None]]:
        """Times the stage in CPU seconds; yields a no-op step."""
        start = time.process_time()
        try:
            yield lambda: None
        finally:
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - start


def run_stages(lm: LoadedModel, task: Task, dtype: str) -> tuple[dict, dict, object]:
    """The demo's stages (``layertracer run`` defaults) on ``task``, after a warm-up:
    the timing section, CPU seconds per stage and the vulnerable layer and set."""
    config = RunConfig(dtype=dtype)
    trace(lm, Task("warmup", "warmup", task.items[:2]), config)
    clock = CpuClock()
    results = trace(lm, task, config, progress=clock)
    v = results.vulnerability
    return dict(results.timing), clock.cpu, (v.vulnerable_layer, v.confidence_set)


def table(timing: dict, cpu: dict[str, float], peak: list[float], padding: float) -> list[str]:
    """One line per counted stage: FLOPs, seconds and GFLOP/s (wall and CPU), and the
    fractions of the matmul rate (the last: of the work executed, padding included)."""
    seconds, flops = stage_seconds(timing), timing.get("flops", {})
    head = (
        "stage",
        "FLOPs",
        "wall s",
        "CPU s",
        "GFLOP/s",
        "GFLOP/CPU-s",
        "of mm wall",
        "of mm CPU",
    )
    lines = ["{:<14}{:>11}{:>9}{:>9}{:>9}{:>13}{:>12}{:>11}".format(*head)]
    for name, secs in seconds.items():
        work = flops.get(name)
        if work is None or not secs:
            continue
        wall, per_cpu = work / secs / 1e9, work / cpu.get(name, float("nan")) / 1e9
        lines.append(
            f"{name:<14}{work:>11.3e}{secs:>9.2f}{cpu.get(name, float('nan')):>9.2f}"
            f"{wall:>9.1f}{per_cpu:>13.1f}{wall / peak[0]:>12.2f}{per_cpu / peak[1]:>11.2f}"
            f"{per_cpu * padding / peak[1]:>10.2f}"
        )
    return lines


def report(run: dict) -> list[float]:
    """Prints the matmul rates and the stage table of a run; returns the reference rate
    ``[wall, CPU]`` GFLOP/s (the float32 block mix at its best row count, mean of before
    and after)."""
    before, after = run["matmul_before"], run["matmul_after"]
    mean = {k: [(b + a) / 2 for b, a in zip(before[k], after[k], strict=True)] for k in before}
    best = [f"float32 block x{n}" for n in (run["replay_rows"], 2048)]
    peak = [max(mean[k][0] for k in best), max(mean[k][1] for k in best)]
    print(
        f"{run['model']} {run['dtype']}, {run['prompts']} capitals prompts ({run['tokens']} "
        f"tokens), {run['threads']} threads; vulnerable layer, set: {run['vulnerable']}"
    )
    for key in mean:
        print(f"matmul {key:<22} wall {before[key][0]:6.1f} -> {after[key][0]:6.1f}  "
              f"CPU {before[key][1]:6.1f} -> {after[key][1]:6.1f} GFLOP/s")  # fmt: skip
    print(f"reference (float32 block mix, best row count, mean): wall {peak[0]:.1f}, "
          f"CPU {peak[1]:.1f} GFLOP/s")  # fmt: skip
    padding = run["padded_tokens"] / run["tokens"]
    print(f"padding: {run['padded_tokens']} tokens run for {run['tokens']} real ({padding:.3f}x)")
    print("\n".join(table(run["timing"], run["cpu_s"], peak, padding)))
    return [round(v, 2) for v in peak]


def main() -> None:
    """Measures the matmul rates, runs the stages, measures again, prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=24, help="first N (0: all 166)")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_model(args.model, "cpu", args.dtype)
    task = load_task("capitals", args.prompts or None)
    tokens = [len(encode(lm.tokenizer, it.prompt, it.target).input_ids) for it in task.items]
    seeds, batch = len(RunConfig().vulnerability.seeds), int(RunConfig().batch_size)
    plan = plan_batches([[0] * t for t in tokens], batch)
    padded = sum(max(tokens[n] for n in b) * len(b) for b in plan)
    rows = round(seeds * batch * statistics.mean(tokens))
    before = rates(lm, rows, args.dtype)
    timing, cpu, found = run_stages(lm, task, args.dtype)
    after = rates(lm, rows, args.dtype)
    payload = {
        "model": args.model, "dtype": args.dtype, "prompts": len(task.items),
        "tokens": sum(tokens), "padded_tokens": padded,
        "threads": torch.get_num_threads(), "replay_rows": rows,
        "matmul_before": before, "matmul_after": after, "timing": timing, "cpu_s": cpu,
        "vulnerable": list(found),
    }  # fmt: skip
    payload["reference_gflop_per_s"] = report(payload)
    print(f"wrote {write('roofline', payload)}")


if __name__ == "__main__":
    main()
