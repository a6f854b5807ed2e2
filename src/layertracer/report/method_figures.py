"""Figures of the comparison methods, drawn only when the run has their section.

Shapes (``layertracer.schema.sections``):
``cka {matrix [L+1][L+1], delta [L+1], critical_layers, ...}``,
``ablation {target_logprob_drop [L+1], accuracy_drop [L+1], critical_layer}``,
``causal_tracing {indirect_effect [L+1], critical_layer, ...}``; ``null`` entries are
layers where a method does not apply (e.g. ablating layer 0) and are left blank.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from layertracer.report.data import floats, num_layers, run_label
from layertracer.report.figures import LAYER_LABEL, finish_layer_axes
from layertracer.report.style import ACCENT, DATA, ReportFigure, set_layer_ticks


def _mark(ax: Axes, layer: object, label: str) -> None:
    if isinstance(layer, int):
        ax.axvline(layer, color=ACCENT, ls="--", lw=1.3, label=f"{label} {layer}")


def _num(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) else str(value or "?")


def _critical(section: dict[str, Any]) -> list[int]:
    value = section.get("critical_layers", section.get("critical_layer"))
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, int)]


def cka_matrix(data: dict[str, Any]) -> Figure | None:
    """Linear CKA between all pairs of layers, with δ_ℓ and the critical layers beside it."""
    cka = data.get("cka")
    L = num_layers(data)
    if not cka or not isinstance(cka.get("matrix"), list) or len(cka["matrix"]) != L + 1:
        return None
    matrix = np.array([floats(row) for row in cka["matrix"]])
    fig = ReportFigure(figsize=(11.0, 5.0), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.0, 1.25])
    image = left.imshow(matrix, cmap="magma", vmin=0.0, vmax=1.0, interpolation="none")
    critical = _critical(cka)[:3]
    left.scatter(critical, critical, marker="s", s=60, facecolors="none", edgecolors="#00e5ff")
    step = 1 if L <= 24 else max(2, L // 12)
    left.set_xticks(range(0, L + 1, step))
    left.set_yticks(range(0, L + 1, step))
    left.set_xlabel("layer")
    left.set_ylabel("layer")
    left.set_title(
        f"Linear CKA ({cka.get('estimator', '?')}, {cka.get('representation', '?')}, "
        f"n = {cka.get('n', '?')})"
    )
    fig.colorbar(image, ax=left, shrink=0.85, label="CKA")
    if isinstance(cka.get("delta"), list) and len(cka["delta"]) == L + 1:
        right.plot(range(L + 1), floats(cka["delta"]), marker=".", color=DATA, label="δ_ℓ")
        right.set_ylabel("δ_ℓ: mean CKA with neighbours")
    for rank, layer in enumerate(critical):
        right.axvline(layer, color=ACCENT, ls="--", lw=1.5 - 0.4 * rank, alpha=1 - 0.25 * rank)
    right.set_title(f"Critical layers (smallest δ_ℓ): {', '.join(map(str, critical)) or '–'}")
    set_layer_ticks(right, L)
    right.set_xlabel(LAYER_LABEL)
    right.grid(alpha=0.3)
    fig.suptitle(f"CKA similarity — {run_label(data)}", fontsize=10)
    return fig


def ablation(data: dict[str, Any]) -> Figure | None:
    """Drop in target log-prob and in first-token accuracy when each block is skipped."""
    abl = data.get("ablation")
    L = num_layers(data)
    if not abl or len(abl.get("target_logprob_drop") or []) != L + 1:
        return None
    fig = ReportFigure(figsize=(8.0, 5.4), layout="constrained")
    top, bottom, strip = fig.subplots(3, 1, sharex=True, height_ratios=[1.0, 1.0, 0.08])
    layers = np.arange(L + 1)
    top.bar(layers, floats(abl["target_logprob_drop"]), color=DATA, width=0.8)
    top.set_ylabel("Δ log P(target) (nats)")
    if len(abl.get("accuracy_drop") or []) == L + 1:
        bottom.bar(layers, floats(abl["accuracy_drop"]), color="#6b7a99", width=0.8)
    bottom.set_ylabel("first-token\naccuracy drop")
    for ax in (top, bottom):
        ax.axhline(0, color="black", lw=0.6)
        ax.tick_params(labelbottom=False)
        _mark(ax, abl.get("critical_layer"), "critical layer")
    top.set_title(f"Layer ablation (block i skipped) — {run_label(data)}")
    finish_layer_axes(fig, top, strip, data)
    return fig


def tracing(data: dict[str, Any]) -> Figure | None:
    """Causal tracing: indirect effect of restoring the clean state at each layer (last
    subject token), and under it ROME's aligned layer × position map when the run has one."""
    ct = data.get("causal_tracing")
    L = num_layers(data)
    if not ct or len(ct.get("indirect_effect") or []) != L + 1:
        return None
    aligned = _aligned_map(ct.get("map"), L)
    fig = ReportFigure(figsize=(8.0, 6.4 if aligned else 4.4), layout="constrained")
    ratios = [1.0, 0.9, 0.08] if aligned else [1.0, 0.08]
    ax, *rest = fig.subplots(len(ratios), 1, sharex=True, height_ratios=ratios)
    ax.plot(
        np.arange(L + 1), floats(ct["indirect_effect"]), color=DATA, marker=".", lw=2,
        label="indirect effect (last subject token)",
    )  # fmt: skip
    if isinstance(ct.get("total_effect"), (int, float)):
        ax.axhline(
            ct["total_effect"], color="#6b7a99", ls=":", lw=1.2, label="P(clean) − P(corrupted)"
        )
    ax.axhline(0, color="black", lw=0.6)
    _mark(ax, ct.get("critical_layer"), "critical layer")
    ax.set_ylabel("P(target) restored − corrupted")
    ax.tick_params(labelbottom=False)
    noise = f"{_num(ct.get('noise_multiplier'))}σ = {_num(ct.get('noise_scale'))}"
    ax.set_title(
        f"Causal tracing (noise {noise}, {_num(ct.get('copies'))} copies) — {run_label(data)}"
    )
    ax.grid(axis="y", alpha=0.3)
    if aligned:
        names, grid = aligned
        image = rest[0].imshow(
            grid, aspect="auto", cmap="Purples", interpolation="none",
            extent=(-0.5, L + 0.5, len(names) - 0.5, -0.5),
        )  # fmt: skip
        rest[0].set_yticks(range(len(names)), names, fontsize=7)
        rest[0].tick_params(labelbottom=False)
        rest[0].set_title(f"Restoring each position (first {ct['map'].get('prompts')} prompts)")
        fig.colorbar(image, ax=rest[0], shrink=0.9, label="indirect effect")
    finish_layer_axes(fig, ax, rest[-1], data)
    return fig


def _aligned_map(section: object, L: int) -> tuple[list[str], np.ndarray] | None:
    """The categories a map has values for, and their effects. ``[K, L+1]``"""
    if not isinstance(section, dict):
        return None
    pairs = zip(section.get("categories") or [], section.get("effect") or [], strict=False)
    kept = [(str(name), floats(row)) for name, row in pairs if isinstance(row, list)]
    kept = [(name, row) for name, row in kept if len(row) == L + 1]
    if not kept:
        return None
    return [name for name, _ in kept], np.stack([row for _, row in kept])
