"""Independently re-compute a run's spectral section (docs/method.md#spectral).

From the representations the run saved (``arrays.npz``: ``spectral_representations``
``[n, L+1, d]``, float32), with plain numpy written out from the definitions and by a
different route than the package (eigen-decompositions of covariance and of ``n × n``
Gram matrices instead of an SVD of the scores):

- every layer's explained-variance ratios (eigenvalues of the covariance matrix);
- one pair's split of ``1 − CKA`` (default: the pair ending at CKA's critical layer) from
  the normalised Gram matrices ``K̂ₖ, K̂ᵣ, L̂ₖ, L̂ᵣ``, its CKA of the top-k and of the rest,
  and its principal angles.

With last-token representations (and no ``--shots``) it also runs each prompt alone through
plain ``transformers`` (``output_hidden_states``, as ``crosscheck_cka.py``) and compares the
ratios of layers ``0..L−1`` with a numpy PCA of those hidden states (``--no-forward``: skip).
Exit code 1 on FAIL (an error above 1e-4; angles 0.05°).

Usage::

    PYTHONPATH=src python scripts/crosscheck_spectral.py RUN_DIR [--pair P] [--no-forward]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

TOL, ANGLE_TOL = 1e-4, 0.05


def ratios(x: np.ndarray, k: int) -> np.ndarray:
    """Top-k eigenvalues of the covariance over their sum (NaN for a constant layer)."""
    eig = np.sort(np.linalg.eigvalsh(np.cov(x.T)))[::-1]
    return eig[:k] / eig.sum() if eig.sum() > 0 else np.full(k, math.nan)


def split(x: np.ndarray, y: np.ndarray, k: int) -> dict[str, float]:
    """The terms of 1 − CKA from the n × n Gram matrices, and the CKA of each part."""

    def parts(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = z - z.mean(0)
        gram = z @ z.T
        values, vectors = np.linalg.eigh(gram)
        order = np.argsort(values)[::-1]
        values, vectors = np.clip(values[order], 0, None), vectors[:, order]
        top = (vectors[:, :k] * values[:k]) @ vectors[:, :k].T
        return gram, top, gram - top

    (kx, kk, kr), (ly, lk, lr) = parts(x), parts(y)
    nx, ny = np.linalg.norm(kx), np.linalg.norm(ly)

    def cka(a: np.ndarray, b: np.ndarray) -> float:
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        return float((a * b).sum() / (na * nb)) if na > 1e-9 * nx and nb > 1e-9 * ny else math.nan

    return {
        "cka": float((kx * ly).sum() / (nx * ny)),
        "cka_top": cka(kk, lk),
        "cka_rest": cka(kr, lr),
        "shift_top": 0.5 * float(np.linalg.norm(kk / nx - lk / ny) ** 2),
        "shift_rest": 0.5 * float(np.linalg.norm(kr / nx - lr / ny) ** 2),
        "shift_cross": -float(((kk * lr).sum() + (kr * lk).sum()) / (nx * ny)),
    }


def angles(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Principal angles (degrees) between the top-k covariance eigenvectors of x and y; NaN
    beyond the smaller rank (eigenvalues above 1e-12 of the largest)."""

    def top(z: np.ndarray) -> tuple[np.ndarray, int]:
        values, vectors = np.linalg.eigh(np.cov(z.T))
        order = np.argsort(values)[::-1]
        rank = int((values > 1e-12 * values.max()).sum()) if values.max() > 0 else 0
        return vectors[:, order[:k]], rank  # [d, k]

    (a, ra), (b, rb) = top(x), top(y)
    count = min(k, ra, rb)
    out = np.full(k, math.nan)
    cosines = np.linalg.svd(a[:, :count].T @ b[:, :count], compute_uv=False)
    out[:count] = np.degrees(np.arccos(np.clip(cosines, -1, 1)))
    return out


def err(ours: list, theirs: np.ndarray) -> float:
    """Largest |difference|; inf where only one side is defined."""
    a = np.array([math.nan if v is None else v for v in ours], dtype=float)
    if (np.isfinite(a) != np.isfinite(theirs)).any():
        return math.inf
    both = np.isfinite(a)
    return float(np.abs(a[both] - theirs[both]).max()) if both.any() else 0.0


def forward_check(data: dict, k: int) -> float:
    """Max error of the run's ratios against a PCA of plain ``transformers`` hidden states."""
    sys.path.insert(0, str(Path(__file__).parent))
    from crosscheck_cka import representations  # one prompt at a time, no padding

    from layertracer.model.load import load_model

    lm = load_model(data["config"]["model"], "cpu", "float32")
    reps = [representations(lm.model, lm.tokenizer, row["prompt"], "last")
            for row in data["prompts"]]  # fmt: skip
    L = len(reps[0]) - 1
    evr = data["spectral"]["explained_variance_ratio"]
    return max(err(evr[i], ratios(np.stack([r[i] for r in reps]), k)) for i in range(L))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--pair", type=int, default=None, help="pair P = layers (P, P+1)")
    parser.add_argument("--no-forward", action="store_true")
    args = parser.parse_args()
    data = json.loads((args.run_dir / "results.json").read_text())
    sp = data.get("spectral") or sys.exit("crosscheck_spectral: the run has no spectral section")
    reps = np.load(args.run_dir / "arrays.npz")["spectral_representations"].astype(np.float64)
    k, L = sp["k"], reps.shape[1] - 1
    errors = {"explained-variance ratios (saved representations)":
              max(err(sp["explained_variance_ratio"][i], ratios(reps[:, i], k))
                  for i in range(L + 1))}  # fmt: skip
    critical = data["cka"]["critical_layer"] or 1
    defined = [p for p in (critical - 1, critical) if 0 <= p < L and sp["pairs"]["cka"][p]]
    pair = args.pair if args.pair is not None else (defined or [1])[0]
    x, y = reps[:, pair], reps[:, pair + 1]
    for name, value in split(x, y, k).items():
        errors[f"pair {pair}→{pair + 1} {name}"] = err([sp["pairs"][name][pair]], np.array([value]))
    angle_error = err(sp["principal_angles_deg"][pair], angles(x, y, k))
    forward = sp["representation"] == "last" and not data["config"].get("shots")
    if forward and not args.no_forward:
        errors["ratios vs transformers hidden states (layers 0..L−1)"] = forward_check(data, k)
    print(f"n = {reps.shape[0]}, L = {L}, k = {k}, {sp['representation']} token, pair {pair}")
    for name, value in errors.items():
        print(f"max |Δ| {name}: {value:.3g}")
    print(f"max |Δ| principal angles (°): {angle_error:.3g}")
    ok = all(v <= TOL for v in errors.values()) and angle_error <= ANGLE_TOL
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
