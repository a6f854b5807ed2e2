"""The interior-vulnerability study (issue 20): how to report a vulnerable layer that is not
an artefact of the network's ends, and how much of the JS profile is the task's.

Collect: one default-protocol scan (``--protocol stable``: norm + protect, r = 0.2, 6 seeds)
per model × suite keeps the per-prompt, per-seed JS ``[N, S, L+1]``; the arrays of every
suite of a model go into ``benchmarks/results/interior-<model>.npz`` (a killed collection
resumes: suites already there are skipped). ``text`` is the control: the built-in generic
text (``--text builtin:gettysburg``, windows of 16 tokens), every window position a row;
``austen`` the same on the start of the tuned lens's held-out corpus (*Northanger Abbey*).
``--replicate`` scans the next ``--prompts`` items of each suite with the next 6 seeds
(keys ``<suite>@B``): fresh prompts and fresh noise, to check what the first scan said.

    OMP_NUM_THREADS=1 python benchmarks/interior.py collect --model smollm2-135m \\
        --suites capitals,antonyms,facts,arithmetic,translation,sequences,text,austen \\
        --prompts 24
    OMP_NUM_THREADS=1 python benchmarks/interior.py collect --model gemma3-270m \\
        --suites capitals,antonyms,facts,arithmetic,text,austen --prompts 24
    OMP_NUM_THREADS=1 python benchmarks/interior.py collect --model smollm2-135m \\
        --suites facts,arithmetic,translation,sequences --prompts 24 --replicate
    OMP_NUM_THREADS=1 python benchmarks/interior.py collect --model gemma3-270m \\
        --suites facts,arithmetic --prompts 24 --replicate
    python benchmarks/interior.py table      # the tables of docs/stability.md

The definitions compared are those of ``layertracer.methods.vulnerability.interior``
(candidates, not only the one chosen); the choice was made on the development suites
(capitals, antonyms) and is validated on the others.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import RESULTS

from layertracer import RunConfig, VulnerabilityConfig, load_model, trace
from layertracer.config.run import InputConfig
from layertracer.tasks import Task, load_task
from layertracer.tasks.corpus import corpus_text

DEVELOPMENT = ("capitals", "antonyms")
CONTROLS = ("text", "austen")  # generic text, not tasks


def path_for(model: str) -> Path:
    return RESULTS / f"interior-{model}.npz"


def collect(args: argparse.Namespace) -> None:
    """Scans every suite not yet in the model's file and adds its arrays."""
    out = path_for(args.model)
    have = dict(np.load(out)) if out.is_file() else {}
    lm = load_model(args.model, "cpu")
    for suite in args.suites.split(","):
        key = f"{suite}@B" if args.replicate else suite
        if f"js:{key}" in have:
            continue
        start = time.perf_counter()
        results = trace(lm, *_inputs(lm.spec, suite, args))
        have[f"js:{key}"] = results.arrays["js"].astype(np.float32)
        have[f"p:{key}"] = np.array(
            [r.target_prob for r in results.prompts], dtype=np.float32
        )  # [N, L+1] logit-lens P(target)
        np.savez_compressed(out, **have)
        print(
            f"{args.model} {suite}: {results.arrays['js'].shape} in "
            f"{time.perf_counter() - start:.0f}s",
            flush=True,
        )


def _control_text(suite: str) -> str:
    """``text``: the built-in sample; ``austen``: the start of the tuned lens's held-out
    corpus (*Northanger Abbey*, docs/lens.md), written to a temporary file."""
    if suite == "text":
        return "builtin:gettysburg"
    path = Path(tempfile.gettempdir()) / "layertracer-austen-heldout.txt"
    path.write_text(corpus_text("heldout")[:8000])
    return str(path)


def _inputs(spec: str, suite: str, args: argparse.Namespace) -> tuple[object, RunConfig]:
    """The task (or text) and options of one scan; ``--replicate``: the next prompts and
    the next seeds."""
    seeds = tuple(range(6, 12)) if args.replicate else tuple(range(6))
    vcfg = VulnerabilityConfig.preset("stable", bootstrap=0, seeds=seeds)
    if suite in CONTROLS:
        inputs = InputConfig(text=_control_text(suite), text_window=16)
        config = RunConfig(
            model=spec, task=None, max_prompts=args.prompts, inputs=inputs,
            methods=("lens", "vulnerability"), vulnerability=vcfg,
        )  # fmt: skip
        return None, config
    items = load_task(suite).items
    if args.replicate:
        items = items[args.prompts : 2 * args.prompts]
    config = RunConfig(
        model=spec, task=suite, max_prompts=args.prompts,
        methods=("lens", "vulnerability"), vulnerability=vcfg,
    )  # fmt: skip
    return Task(suite, suite, tuple(items)), config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("collect", "table"))
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--suites", default="capitals,antonyms,facts,arithmetic,text")
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--replicate", action="store_true", help="the next prompts and seeds")
    args = parser.parse_args()
    if args.what == "collect":
        collect(args)
    else:
        from interior_table import print_tables

        print_tables(sorted(RESULTS.glob("interior-*.npz")), DEVELOPMENT, CONTROLS)


if __name__ == "__main__":
    main()
