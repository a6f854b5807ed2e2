"""Independently re-compute a run's comparison methods from its results.json (docs/method.md).

Only ``layertracer.model.load.load_model`` is used from the package; everything else is plain
``transformers`` and PyTorch hooks, one prompt (no padding) and one full forward at a time.

- ``ablation``: for every prompt and block ``i``, a forward hook makes block ``i`` return
  its input; the drop ``log P_clean(target) − log P_ablated(target)`` at the last token
  and the ablated top-1 hit are compared with ``prompts[*].ablation_drop`` /
  ``ablation_correct`` and with the run's ``ablation.target_logprob_drop`` means.

Exit code 1 on FAIL (any difference above 1e-3).

Usage::

    PYTHONPATH=src python scripts/crosscheck_methods.py RUN_DIR [--max-prompts N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from layertracer.model.load import load_model

TOL = 1e-3


def decoder_blocks(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder blocks of a ``model.model.layers`` causal LM (Llama, Mistral, Qwen...)."""
    blocks = getattr(getattr(model, "model", None), "layers", None)
    if not isinstance(blocks, torch.nn.ModuleList):
        sys.exit("crosscheck_methods: only models with model.model.layers are supported")
    return blocks


def last_logprobs(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Float32 log-probs of the next token after the whole prompt. ``[vocab]``"""
    return model(input_ids=ids, use_cache=False).logits[0, -1].float().log_softmax(-1)


def skipped(block: torch.nn.Module) -> torch.utils.hooks.RemovableHandle:
    """A forward hook after which ``block`` returns its own residual input."""

    def hook(_m: torch.nn.Module, args: tuple, kwargs: dict, output: object) -> object:
        given = args[0] if args else kwargs["hidden_states"]
        if isinstance(output, torch.Tensor):
            return given
        return (given, *output[1:])

    return block.register_forward_hook(hook, with_kwargs=True)


def ablation_rows(model: torch.nn.Module, tok: object, row: dict) -> tuple[list, list]:
    """One prompt's drop and top-1 hit for every block skipped in turn (``None`` at 0)."""
    ids = torch.tensor([tok(row["prompt"])["input_ids"]], dtype=torch.long)  # [1, T]
    target = row["target_token_id"]
    clean = float(last_logprobs(model, ids)[target])
    drops, hits = [None], [None]
    for block in decoder_blocks(model):
        handle = skipped(block)
        try:
            ablated = last_logprobs(model, ids)
        finally:
            handle.remove()
        drops.append(clean - float(ablated[target]))
        hits.append(int(ablated.argmax()) == target)
    return drops, hits


def check_ablation(model: torch.nn.Module, tok: object, res: dict, rows: list[dict]) -> dict:
    """Max differences between the run's ablation and the plain-hook one."""
    per_prompt, hit_mismatch, mine = 0.0, 0, []
    for row in rows:
        drops, hits = ablation_rows(model, tok, row)
        mine.append(drops)
        for a, b in zip(drops[1:], row["ablation_drop"][1:], strict=True):
            per_prompt = max(per_prompt, abs(a - b))
        hit_mismatch += sum(
            a != b for a, b in zip(hits[1:], row["ablation_correct"][1:], strict=True)
        )
    out = {"max |d ablation_drop| per prompt": per_prompt, "top-1 hit mismatches": hit_mismatch}
    if len(rows) == len(res["prompts"]):  # the run's means, over the same prompts
        means = [sum(d[i] for d in mine) / len(mine) for i in range(1, len(mine[0]))]
        ran = res["ablation"]["target_logprob_drop"][1:]
        out["max |d target_logprob_drop|"] = max(
            abs(a - b) for a, b in zip(means, ran, strict=True)
        )
    return out


def main() -> int:
    """Runs every check that the run's results.json has a section for."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--max-prompts", type=int, default=None)
    args = ap.parse_args()
    res = json.loads((args.run_dir / "results.json").read_text())
    loaded = load_model(res["config"]["model"], device="cpu")
    model, tok = loaded.model.eval(), loaded.tokenizer
    rows = res["prompts"][: args.max_prompts]
    report = {}
    with torch.inference_mode():
        if "ablation" in res:
            report["ablation"] = check_ablation(model, tok, res, rows)
    failed = False
    for section, values in report.items():
        for name, value in values.items():
            bad = value > (0 if "mismatch" in name else TOL)
            failed |= bad
            print(f"{section:10s} {name:34s} {value:.3g}  {'FAIL' if bad else 'ok'}")
    print(f"{len(rows)} prompts, model {res['config']['model']}: {'FAIL' if failed else 'PASS'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
