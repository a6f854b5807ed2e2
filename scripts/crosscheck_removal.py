"""Independently re-compute a run's Block Influence and one point of its layer-removal
curves from its results.json (docs/method.md#block-influence, #layer-removal).

Only ``layertracer.model.load.load_model`` is used from the package; everything else is plain
``transformers`` and PyTorch forward hooks on ``model.model.layers``, one prompt (no
padding) and one full forward at a time.

- ``bi``: hooks record every block's residual input and output; per prompt
  ``BI_i = 1 − mean over tokens of cos(input_i, output_i)`` in float64, compared with
  ``prompts[*].bi`` and (over all the run's prompts) ``similarity.bi`` (tolerance 1e-6).
- ``removal``: the run's order of one criterion (``--criterion``, default ``js``, else the
  best one); hooks make its first ``k`` blocks (``--k``, default 2) return their input; the
  mean target log-prob (tolerance 1e-4), the accuracy (exact) and the mean
  ``KL(full ‖ pruned)`` at the last position (1e-4) are compared with
  ``removal.curves[criterion]`` at ``k``.

Exit code 1 on FAIL. Runs made with ``--shots``, ``--chat-template`` or ``--text`` are not
supported (the prompt text alone must give the run's tokens; checked per prompt).

Usage::

    PYTHONPATH=src python scripts/crosscheck_removal.py RUN_DIR [--criterion js] [--k 2]
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

TOL_BI, TOL_LOGPROB, TOL_KL = 1e-6, 1e-4, 1e-4


def blocks_of(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder blocks of a ``model.model.layers`` causal LM (Llama, Gemma, Qwen...)."""
    blocks = getattr(getattr(model, "model", None), "layers", None)
    if not isinstance(blocks, torch.nn.ModuleList):
        sys.exit("crosscheck_removal: only models with model.model.layers are supported")
    return blocks


def residual_input(args: tuple, kwargs: dict) -> torch.Tensor:
    """The hidden states a block was called with."""
    return args[0] if args else kwargs["hidden_states"]


def first(output: object) -> torch.Tensor:
    """The hidden states a block returned."""
    return output if isinstance(output, torch.Tensor) else output[0]


def block_influence(model: torch.nn.Module, ids: torch.Tensor) -> list[float | None]:
    """``[None, BI_1..BI_L]`` of one prompt, every token, float64."""
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    handles = []
    for i, block in enumerate(blocks_of(model), 1):

        def hook(_m, args, kwargs, output, i=i) -> None:
            seen[i] = (residual_input(args, kwargs).double(), first(output).double())

        handles.append(block.register_forward_hook(hook, with_kwargs=True))
    try:
        model(input_ids=ids, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    out: list[float | None] = [None]
    for i in range(1, len(seen) + 1):
        a, b = seen[i][0][0], seen[i][1][0]  # [T, d]
        cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))
        out.append(float(1.0 - cos.mean()))
    return out


def last_logprobs(model: torch.nn.Module, ids: torch.Tensor, removed: list[int]) -> torch.Tensor:
    """Float64 log-probs after the prompt with blocks ``removed`` returning their input."""
    handles = []
    for i in removed:

        def hook(_m, args, kwargs, output) -> object:
            given = residual_input(args, kwargs)
            return given if isinstance(output, torch.Tensor) else (given, *output[1:])

        handles.append(blocks_of(model)[i - 1].register_forward_hook(hook, with_kwargs=True))
    try:
        logits = model(input_ids=ids, use_cache=False).logits[0, -1]
    finally:
        for handle in handles:
            handle.remove()
    return logits.float().log_softmax(-1).double()


def check(model: torch.nn.Module, tok: object, res: dict, criterion: str, k: int) -> dict:
    """Max differences between the run and the plain-hook recomputation."""
    removed = res["removal"]["orders"][criterion][:k]
    lps, hits, kls, bi_err, bis, mismatched = [], [], [], 0.0, [], 0
    for row in res["prompts"]:
        ids = torch.tensor([tok(row["prompt"])["input_ids"]], dtype=torch.long)  # [1, T]
        mismatched += ids.shape[1] != row["num_tokens"]
        bi = block_influence(model, ids)
        bis.append(bi[1:])
        bi_err = max(bi_err, *(abs(a - b) for a, b in zip(bi[1:], row["bi"][1:], strict=True)))
        full, pruned = last_logprobs(model, ids, []), last_logprobs(model, ids, removed)
        target = row["target_token_id"]
        lps.append(float(pruned[target]))
        hits.append(int(pruned.argmax()) == target)
        kls.append(float((full.exp() * (full - pruned)).sum()))
    curve, n = res["removal"]["curves"][criterion], len(lps)
    means = [sum(col) / n for col in zip(*bis, strict=True)]
    return {
        "prompts tokenized differently (mismatch)": mismatched,
        "bi: max |d| per prompt": bi_err,
        "bi: max |d similarity.bi|": max(
            abs(a - b) for a, b in zip(means, res["similarity"]["bi"][1:], strict=True)
        ),
        f"removal {criterion} k={k}: |d target_logprob|": abs(
            sum(lps) / n - curve["target_logprob"][k]
        ),
        f"removal {criterion} k={k}: |d accuracy| (mismatch)": abs(
            sum(hits) / n - curve["accuracy"][k]
        ),
        f"removal {criterion} k={k}: |d kl|": abs(sum(kls) / n - curve["kl"][k]),
    }


def tolerance(name: str) -> float:
    """The tolerance of one reported difference."""
    if "mismatch" in name:
        return 0.0
    return TOL_BI if name.startswith("bi") else TOL_KL if "kl" in name else TOL_LOGPROB


def main() -> int:
    """Re-computes BI and one removal point; prints one line per number and PASS/FAIL."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--criterion", default=None, help="default: js, else the best criterion")
    ap.add_argument("--k", type=int, default=2)
    args = ap.parse_args()
    res = json.loads((args.run_dir / "results.json").read_text())
    if "removal" not in res or "similarity" not in res:
        sys.exit("crosscheck_removal: the run has no removal or similarity section")
    orders = res["removal"]["orders"]
    criterion = args.criterion or ("js" if "js" in orders else res["removal"]["best"])
    loaded = load_model(res["config"]["model"], device="cpu")
    with torch.inference_mode():
        report = check(loaded.model.eval(), loaded.tokenizer, res, criterion, args.k)
    failed = False
    for name, value in report.items():
        bad = not value <= tolerance(name)
        failed |= bad
        print(f"{name:48s} {value:.3g}  (tol {tolerance(name):g})  {'FAIL' if bad else 'ok'}")
    model, count = res["config"]["model"], len(res["prompts"])
    print(f"{count} prompts, model {model}, removed {orders[criterion][: args.k]}: ", end="")
    print("FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
