"""Independently re-compute a run's logit lens and vulnerability numbers (docs/method.md).

Only ``layertracer.model.load.load_model`` is used from the package; tokenising, the target
token, hooks, the lens, masks and JS are re-implemented here with plain PyTorch hooks.
Supports Llama-style models (``model.model.layers/.norm``, ``model.lm_head``), mask mode
``zero``, positions ``all|last``. Each prompt runs alone (batch of 1, no padding); each
perturbation is a full forward (no replay). Exit code 1 on FAIL (any error > 1e-4).

Usage::

    PYTHONPATH=src python scripts/crosscheck.py RUN_DIR [--max-prompts N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from layertracer.model.load import load_model

TOL = 1e-4


def llama_parts(model: torch.nn.Module) -> tuple[torch.nn.ModuleList, torch.nn.Module]:
    """Returns the decoder blocks and the final norm of a Llama-style causal LM."""
    inner = getattr(model, "model", None)
    blocks, norm = getattr(inner, "layers", None), getattr(inner, "norm", None)
    if not isinstance(blocks, torch.nn.ModuleList) or norm is None or not hasattr(model, "lm_head"):
        sys.exit("crosscheck: only Llama-style model.model.layers/.norm/.lm_head is supported")
    return blocks, norm


def target_token(tokenizer: object, prompt: str, answer: str) -> int:
    """First token of tokenize(prompt + answer) not in tokenize(prompt), else fallback."""
    p = tokenizer(prompt)["input_ids"]
    pa = tokenizer(prompt + answer)["input_ids"]
    if len(pa) > len(p) and pa[: len(p)] == p:
        return pa[len(p)]
    return tokenizer(answer, add_special_tokens=False)["input_ids"][0]


def residual_states(model: torch.nn.Module, ids: torch.Tensor) -> tuple[list, torch.Tensor]:
    """Runs the model once; returns the L+1 layer states and the final logits.

    Layer 0 is the input of block 1 (a pre-hook on block 0); layer i the output of block i.
    """
    blocks, _ = llama_parts(model)
    states: list[torch.Tensor] = []

    def pre(_m: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        states.append((args[0] if args else kwargs["hidden_states"]).detach().clone())

    def post(_m: torch.nn.Module, _a: tuple, out: object) -> None:
        states.append((out[0] if isinstance(out, tuple) else out).detach().clone())

    handles = [blocks[0].register_forward_pre_hook(pre, with_kwargs=True)]
    handles += [b.register_forward_hook(post) for b in blocks]
    try:
        logits = model(input_ids=ids).logits  # [1, seq, vocab]
    finally:
        for h in handles:
            h.remove()
    return states, logits


def lens_logprobs(model: torch.nn.Module, h: torch.Tensor) -> torch.Tensor:
    """log_softmax(lm_head(norm(h))) at the last token, float32. ``[vocab]``"""
    _, norm = llama_parts(model)
    return torch.log_softmax(model.lm_head(norm(h[:, -1:])).float()[0, -1], dim=-1)


def masked_logits(
    model: torch.nn.Module, ids: torch.Tensor, layer: int, dims: list[int], last_only: bool
) -> torch.Tensor:
    """Full forward with ``dims`` of layer state ``layer`` zeroed; last-token logits."""
    blocks, _ = llama_parts(model)
    index = torch.tensor(dims, dtype=torch.long)
    positions = slice(-1, None) if last_only else slice(None)

    def zero(h: torch.Tensor) -> torch.Tensor:
        h = h.clone()  # [1, seq, d]
        h[:, positions, index] = 0.0
        return h

    def pre(_m: torch.nn.Module, args: tuple, kwargs: dict) -> tuple:
        if args:
            return (zero(args[0]), *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": zero(kwargs["hidden_states"])}

    def post(_m: torch.nn.Module, _a: tuple, out: object) -> object:
        return (zero(out[0]), *out[1:]) if isinstance(out, tuple) else zero(out)

    if layer == 0:
        handle = blocks[0].register_forward_pre_hook(pre, with_kwargs=True)
    else:
        handle = blocks[layer - 1].register_forward_hook(post)
    try:
        return model(input_ids=ids).logits[0, -1]
    finally:
        handle.remove()


def js_bits(logits_p: torch.Tensor, logits_q: torch.Tensor) -> float:
    """Jensen–Shannon divergence, log base 2, float64, from two logit vectors."""
    p = torch.softmax(logits_p.double(), -1)
    q = torch.softmax(logits_q.double(), -1)
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor) -> torch.Tensor:  # KL(a‖m) in nats; 0·log 0 = 0
        return (torch.xlogy(a, a) - torch.xlogy(a, m)).sum()

    return float(0.5 * (kl(p) + kl(q)) / math.log(2.0))


def check_prompt(model: torch.nn.Module, tok: object, row: dict, vuln: dict) -> dict:
    """Re-computes one prompt's target, trajectory and per-seed JS."""
    target = target_token(tok, row["prompt"], row["target"])
    if target != row["target_token_id"]:
        print(f"target token {target} != {row['target_token_id']} for {row['prompt']!r}")
    ids = torch.tensor([tok(row["prompt"])["input_ids"]], dtype=torch.long)  # [1, seq]
    states, logits = residual_states(model, ids)
    lens = [lens_logprobs(model, h) for h in states]
    probs = [float(lp[target].exp()) for lp in lens]
    own = torch.log_softmax(logits[0, -1].float(), -1)
    last_only = vuln["positions"] == "last"
    js = {
        seed: [
            js_bits(logits[0, -1], masked_logits(model, ids, i, d, last_only))
            for i, d in enumerate(per_layer)
        ]
        for seed, per_layer in vuln["masked_dims"].items()
    }
    return {
        "target_ok": target == row["target_token_id"],
        "tp_err": max(abs(a - b) for a, b in zip(probs, row["target_prob"], strict=True)),
        "lens_err": float((lens[-1] - own).abs().max()),
        "js": js,
    }


def main() -> int:
    """Parses arguments, runs all checks, prints the figures; 0 on PASS, 1 on FAIL."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--max-prompts", type=int, default=None)
    args = ap.parse_args()
    res = json.loads((args.run_dir / "results.json").read_text())
    vuln = res["vulnerability"]
    if vuln["mask_mode"] != "zero" or vuln["positions"] not in ("all", "last"):
        sys.exit(
            f"crosscheck: only mask_mode zero and positions all|last are supported "
            f"(run has {vuln['mask_mode']}/{vuln['positions']})"
        )
    loaded = load_model(res["config"]["model"], device="cpu")
    model, tok = loaded.model, loaded.tokenizer
    if len(llama_parts(model)[0]) != res["model"]["num_layers"]:
        sys.exit("crosscheck: the model's block count differs from model.num_layers")
    rows = res["prompts"][: args.max_prompts]
    with torch.inference_mode():
        checks = [check_prompt(model, tok, row, vuln) for row in rows]
    seeds = list(vuln["masked_dims"])
    js_err = 0.0
    for row, c in zip(rows, checks, strict=True):
        mean = [sum(c["js"][s][i] for s in seeds) / len(seeds) for i in range(len(row["js_mean"]))]
        js_err = max(js_err, *(abs(a - b) for a, b in zip(mean, row["js_mean"], strict=True)))
    seed_err: float | None = None
    if len(rows) == len(res["prompts"]):
        seed_err = 0.0
        order = [str(seed) for seed in vuln["seeds"]]  # vulnerability.js rows follow seeds
        for s in seeds:
            for i, want in enumerate(vuln["js"][order.index(s)]):
                got = sum(c["js"][s][i] for c in checks) / len(checks)
                seed_err = max(seed_err, abs(got - want))
    figures = {
        "max |d target_prob|": max(c["tp_err"] for c in checks),
        "max |d last-layer lens vs model log-probs|": max(c["lens_err"] for c in checks),
        "max |d per-prompt JS|": js_err,
        "max |d per-seed JS|": seed_err,
    }
    print(f"prompts checked: {len(rows)}")
    print(f"target token mismatches: {sum(not c['target_ok'] for c in checks)}")
    for name, value in figures.items():
        print(f"{name}: {'skipped' if value is None else f'{value:.3e}'}")
    ok = all(c["target_ok"] for c in checks)
    ok = ok and all(v is None or v <= TOL for v in figures.values())
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
