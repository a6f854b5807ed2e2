"""Independently re-compute a run's CKA matrix, δ_ℓ and critical layer (docs/method.md#cka).

Only ``layertracer.model.load.load_model`` is used from the package. Each prompt runs alone
(batch of 1, no padding) through plain ``transformers`` with ``output_hidden_states=True``;
CKA is plain numpy, written out from the definitions. Layer states: ``hidden_states[i]``
for ``i < L``; ``hidden_states[L]`` of Hugging Face models has the final norm applied, so
layer ``L`` (the last block's output *before* the final norm) is read with a forward hook on
the last block instead. Exit code 1 on FAIL (matrix error > 1e-4).

Usage::

    PYTHONPATH=src python scripts/crosscheck_cka.py RUN_DIR
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from layertracer.model.load import load_model

TOL = 1e-4


def last_block(model: torch.nn.Module) -> torch.nn.Module:
    """The last decoder block of a Llama-style model (``model.model.layers[-1]``)."""
    layers = getattr(getattr(model, "model", None), "layers", None)
    if not isinstance(layers, torch.nn.ModuleList):
        sys.exit("crosscheck_cka: only Llama-style model.model.layers is supported")
    return layers[-1]


@torch.inference_mode()
def representations(model: torch.nn.Module, tokenizer: object, prompt: str, kind: str) -> list:
    """The L+1 representations of one prompt, float64 numpy vectors ``[d]``."""
    ids = torch.tensor([tokenizer(prompt)["input_ids"]])
    captured = []
    handle = last_block(model).register_forward_hook(
        lambda _m, _a, out: captured.append(out[0] if isinstance(out, tuple) else out)
    )
    try:
        hidden = model(input_ids=ids, output_hidden_states=True, use_cache=False).hidden_states
    finally:
        handle.remove()
    states = [*hidden[:-1], captured[0]]  # [1, T, d] each; layer L before the final norm
    pick = (lambda h: h[0, -1]) if kind == "last" else (lambda h: h[0].mean(0))
    return [pick(h).double().numpy() for h in states]


def cka_biased(x: np.ndarray, y: np.ndarray) -> float:
    """‖YᵀX‖_F² / (‖XᵀX‖_F ‖YᵀY‖_F) on column-centred X, Y."""
    x, y = x - x.mean(0), y - y.mean(0)
    denom = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(np.linalg.norm(y.T @ x) ** 2 / denom) if denom > 0 else math.nan


def hsic_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Song et al. (2012) unbiased HSIC with linear kernels."""
    n = len(x)
    k, l = x @ x.T, y @ y.T  # noqa: E741
    np.fill_diagonal(k, 0)
    np.fill_diagonal(l, 0)
    one = np.ones(n)
    value = np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
    return (value - 2 / (n - 2) * (one @ k @ l @ one)) / (n * (n - 3))


def cka_debiased(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(0), y - y.mean(0)  # invariant, better rounding
    xx, yy = hsic_unbiased(x, x), hsic_unbiased(y, y)
    return hsic_unbiased(x, y) / math.sqrt(xx * yy) if xx > 0 and yy > 0 else math.nan


def window_delta(m: np.ndarray) -> list[float]:
    """Mean of the defined entries among CKA(ℓ, ℓ−1), CKA(ℓ, ℓ), CKA(ℓ, ℓ+1)."""
    out = []
    for i in range(len(m)):
        vals = [m[i, j] for j in (i - 1, i, i + 1) if 0 <= j < len(m) and math.isfinite(m[i, j])]
        out.append(sum(vals) / len(vals) if vals else math.nan)
    return out


def max_diff(ours: list, theirs: np.ndarray) -> float:
    """Largest |difference| over entries both define; inf if only one side defines one."""
    a = np.array([[math.nan if v is None else v for v in row] for row in ours], dtype=float)
    a, b = a.reshape(theirs.shape), theirs
    if (np.isfinite(a) != np.isfinite(b)).any():
        return math.inf
    both = np.isfinite(a)
    return float(np.abs(a[both] - b[both]).max()) if both.any() else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    data = json.loads((args.run_dir / "results.json").read_text())
    cka = data.get("cka") or sys.exit("crosscheck_cka: this run has no cka section")
    if data["config"].get("shots"):
        sys.exit("crosscheck_cka: runs with --shots are not supported")
    lm = load_model(data["config"]["model"], "cpu", "float32")
    reps = [representations(lm.model, lm.tokenizer, row["prompt"], cka["representation"])
            for row in data["prompts"]]  # fmt: skip
    layers = [np.stack([r[i] for r in reps]) for i in range(len(reps[0]))]  # [n, d] each
    fn = cka_biased if cka["estimator"] == "biased" else cka_debiased
    matrix = np.array([[fn(x, y) for y in layers] for x in layers])
    L = len(layers) - 1
    errors = {
        "matrix (layers 0..L)": max_diff(cka["matrix"], matrix),
        "matrix (layers 0..L-1, hidden_states only)": max_diff(
            [row[:L] for row in cka["matrix"][:L]], matrix[:L, :L]
        ),
        "delta": max_diff([cka["delta"]], np.array([window_delta(matrix)])),
    }
    blocks = [i for i in range(1, L + 1) if math.isfinite(window_delta(matrix)[i])]
    critical = min(blocks, key=lambda i: (window_delta(matrix)[i], i)) if blocks else None
    print(f"n = {len(reps)}, L = {L}, estimator {cka['estimator']}, {cka['representation']}")
    for name, err in errors.items():
        print(f"max |Δ| {name}: {err:.3g}")
    print(f"critical layer: run {cka['critical_layer']}, re-computed {critical}")
    ok = all(err <= TOL for err in errors.values()) and critical == cka["critical_layer"]
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
