"""Build ``tiny:<type>`` for every causal-LM model_type and run one forward.

Prints one row per type (``ok`` or the error) and the totals. For the coverage table
and for checking :mod:`layertracer.model.tiny.build` after a ``transformers`` upgrade.

Usage::

    PYTHONPATH=src python scripts/tiny_sweep.py [TYPE ...]
"""

from __future__ import annotations

import os
import sys
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from layertracer.model.tiny.build import build_tiny, causal_lm_types

PROMPTS = ["The capital of France is", "One, two, three,"]


def check(model_type: str) -> str:
    """``ok`` when the tiny model builds and a padded batch gives finite logits."""
    try:
        model, tok = build_tiny(model_type)
        batch = tok(PROMPTS, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(**batch).logits  # [batch, seq, vocab]
        if not torch.isfinite(logits).all():
            return "forward: non-finite logits"
        if logits.shape[-1] < len(tok):
            return f"forward: vocab {logits.shape[-1]} < tokenizer {len(tok)}"
        return "ok"
    except Exception as exc:
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0] if text else ''}"[:160]


def main(types: list[str]) -> int:
    """Sweep ``types`` (default: all), print the table, return the failure count."""
    warnings.filterwarnings("ignore")
    failures = 0
    for model_type in types:
        start = time.perf_counter()
        result = check(model_type)
        failures += result != "ok"
        print(f"{model_type:28s} {time.perf_counter() - start:6.2f}s  {result}", flush=True)
    print(f"\n{len(types) - failures} of {len(types)} built and ran; {failures} failed")
    return failures


if __name__ == "__main__":
    main(sys.argv[1:] or causal_lm_types())
