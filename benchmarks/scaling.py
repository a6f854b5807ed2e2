"""How the cost grows with prompts, layers and seeds (a random Llama on the CPU).

Each sweep varies one factor and fits ``log(seconds) = a + b·log(x)``; the exponent ``b``
should be about 1 for prompts and seeds. For layers the scan replays ``S·L/2`` full-pass
equivalents whose own cost grows with ``L``, so wall time grows about as ``L²``; divided by
the clean lens pass (one full pass, ``∝ L``) it is linear again: both exponents are printed.
One line per case and per fit; writes ``benchmarks/results/scaling.json``.

    python benchmarks/scaling.py [--repeats 2] [--hidden 128]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from common import llama_shaped, write

from layertracer import RunConfig, VulnerabilityConfig, trace
from layertracer.tasks import load_task

BASE = {"prompts": 16, "layers": 4, "seeds": 2}
SWEEPS = {"prompts": (8, 16, 32, 64), "layers": (2, 4, 8, 16), "seeds": (1, 2, 4, 8)}


def measure(hidden: int, prompts: int, layers: int, seeds: int, repeats: int) -> dict:
    """Minimum over ``repeats`` of the lens and vulnerability stage times of one run."""
    shape = {
        "hidden_size": hidden,
        "intermediate_size": hidden * 4,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "vocab_size": 1000,
    }
    lm = llama_shaped(shape, "cpu", torch.float32, "llama-scaling")
    task = load_task("capitals", prompts)
    vcfg = VulnerabilityConfig(seeds=tuple(range(seeds)))
    config = RunConfig(batch_size=8, methods=("lens", "vulnerability"), vulnerability=vcfg)
    trace(lm, load_task("capitals", 2), config)  # warm-up
    runs = [trace(lm, task, config).timing for _ in range(repeats)]
    return {
        "prompts": prompts,
        "layers": layers,
        "seeds": seeds,
        "lens_s": min(t["lens"] for t in runs),
        "vulnerability_s": min(t["vulnerability"] for t in runs),
    }


def exponent(xs: list[float], ys: list[float]) -> float:
    """Slope of the least-squares line through ``(log x, log y)``."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def main() -> None:
    """Runs the three sweeps, prints each case and the fitted exponents, writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    args = parser.parse_args()
    rows, fits = [], {}
    for factor, values in SWEEPS.items():
        cases = []
        for value in values:
            row = measure(args.hidden, **{**BASE, factor: value}, repeats=args.repeats)
            print(
                f"{factor}={value}: prompts {row['prompts']} layers {row['layers']} "
                f"seeds {row['seeds']}  lens {row['lens_s']:.3f}s  "
                f"vulnerability {row['vulnerability_s']:.3f}s",
                flush=True,
            )
            cases.append(row)
        scan = [c["vulnerability_s"] for c in cases]
        fits[factor] = round(exponent(list(values), scan), 3)
        if factor == "layers":
            per_pass = [c["vulnerability_s"] / c["lens_s"] for c in cases]
            fits["layers_in_full_passes"] = round(exponent(list(values), per_pass), 3)
        rows += cases
    for name, value in fits.items():
        print(f"exponent of vulnerability time in {name}: {value:.2f}")
    print(f"wrote {write('scaling', {'hidden': args.hidden, 'cases': rows, 'exponents': fits})}")


if __name__ == "__main__":
    main()
