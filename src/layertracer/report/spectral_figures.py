"""Figures of the spectral section (docs/method.md#spectral), drawn only when the run has it.

Shapes (``layertracer.schema.spectral``): ``spectral {explained_variance_ratio
[L+1][k], principal_angles_deg [L][k], pairs {shift, shift_top, ...: [L]}, top_share [L],
critical_layers, readout [{layer, component, ratio, plus, minus}], text {critical_layers},
...}``; pair ``ℓ`` is layers ``(ℓ, ℓ+1)`` and is drawn at ``ℓ + ½``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from layertracer.report.data import floats, num_layers, run_label
from layertracer.report.figures import LAYER_LABEL
from layertracer.report.style import ACCENT, DATA, ReportFigure, set_layer_ticks, shorten

TEXT_COLOUR = "#6b7a99"  # the text-derived critical layers


def _section(data: dict[str, Any]) -> dict[str, Any] | None:
    """The spectral section when its per-layer arrays have the run's shape."""
    spectral, L = data.get("spectral"), num_layers(data)
    if not isinstance(spectral, dict):
        return None
    ratios, angles = spectral.get("explained_variance_ratio"), spectral.get("principal_angles_deg")
    if not isinstance(ratios, list) or len(ratios) != L + 1:
        return None
    if not isinstance(angles, list) or len(angles) != L:
        return None
    return spectral


def _mark_critical(ax: Axes, spectral: dict[str, Any]) -> None:
    """CKA's critical layers (red, dashed) and the text's (grey, dotted)."""
    for rank, layer in enumerate(spectral.get("critical_layers") or []):
        label = "CKA critical layers" if rank == 0 else None
        ax.axvline(layer, color=ACCENT, ls="--", lw=1.4 - 0.3 * rank, label=label)
    text = spectral.get("text") or {}
    for rank, layer in enumerate((text.get("critical_layers") or [])[:3]):
        label = "text critical layers" if rank == 0 else None
        ax.axvline(layer, color=TEXT_COLOUR, ls=":", lw=1.4 - 0.3 * rank, label=label)


def spectrum(data: dict[str, Any]) -> Figure | None:
    """Explained-variance ratio of the top-k components of every layer (heatmap)."""
    spectral = _section(data)
    if spectral is None or not spectral.get("k"):
        return None
    L, k = num_layers(data), int(spectral["k"])
    grid = np.array([floats(row) if len(row) == k else np.full(k, np.nan)
                     for row in spectral["explained_variance_ratio"]]).T  # [k, L+1]  # fmt: skip
    fig = ReportFigure(figsize=(9.0, 2.2 + 0.22 * k), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0.0, interpolation="none",
                      extent=(-0.5, L + 0.5, k + 0.5, 0.5))  # fmt: skip
    ax.set_yticks(range(1, k + 1))
    ax.set_ylabel("principal component")
    _mark_critical(ax, spectral)
    set_layer_ticks(ax, L)
    ax.set_xlabel(LAYER_LABEL)
    ax.legend(loc="upper right", fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.9, label="explained-variance ratio")
    ax.set_title(f"Spectrum per layer ({spectral.get('representation', '?')} token, "
                 f"n = {spectral.get('n', '?')}) — {run_label(data)}")  # fmt: skip
    return fig


def angles(data: dict[str, Any]) -> Figure | None:
    """Principal angles between consecutive top-k subspaces, and the split of 1 − CKA."""
    spectral = _section(data)
    if spectral is None or not spectral.get("k"):
        return None
    L = num_layers(data)
    x = np.arange(L) + 0.5
    grid = np.array([floats(row) for row in spectral["principal_angles_deg"]])  # [L, k]
    fig = ReportFigure(figsize=(9.0, 6.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(x, grid[:, 0], color=DATA, marker=".", lw=2, label="angle of PC 1 (smallest)")
    finite = np.isfinite(grid)
    count = finite.sum(1)
    mean = np.where(count > 0, np.where(finite, grid, 0.0).sum(1) / np.maximum(count, 1), np.nan)
    top.plot(x, mean, color="#6b7a99", lw=1.2, label=f"mean of the {grid.shape[1]} angles")
    top.set_ylabel("principal angle (°)")
    top.set_ylim(0, 90)
    _mark_critical(top, spectral)
    top.legend(fontsize=7, loc="upper right")
    top.set_title(f"Top-{spectral['k']} subspaces of layers ℓ and ℓ+1 — {run_label(data)}")
    pairs = spectral.get("pairs") or {}
    for name, colour, label in (("shift", DATA, "1 − CKA"), ("shift_top", ACCENT, "top-k part"),
                                ("shift_rest", "#2ca02c", "rest part"),
                                ("shift_cross", "#9467bd", "cross part (≤ 0)")):  # fmt: skip
        if len(pairs.get(name) or []) == L:
            bottom.plot(x, floats(pairs[name]), color=colour, marker=".", label=label)
    bottom.axhline(0, color="black", lw=0.6)
    bottom.set_ylabel("split of 1 − CKA(ℓ, ℓ+1)")
    _mark_critical(bottom, spectral)
    bottom.legend(fontsize=7, loc="upper right")
    set_layer_ticks(bottom, L)
    bottom.set_xlabel("between layer ℓ and ℓ+1 (drawn at ℓ + ½)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    return fig


def readout(data: dict[str, Any]) -> Figure | None:
    """The lens's top tokens of each side of the leading components around the critical
    layers, as a table."""
    spectral = _section(data)
    rows = (spectral or {}).get("readout") or []
    if not rows:
        return None
    cells = [[str(r["layer"]), str(r["component"]),
              "–" if r.get("ratio") is None else f"{r['ratio']:.2f}",
              shorten(" ".join(repr(t)[1:-1] for t in r["plus"]), 60),
              shorten(" ".join(repr(t)[1:-1] for t in r["minus"]), 60)] for r in rows]  # fmt: skip
    fig = ReportFigure(figsize=(11.0, 0.8 + 0.22 * len(cells)), layout="constrained")
    ax = fig.add_subplot()
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=["layer", "PC", "var.", "+ side", "− side"],
                     colWidths=[0.06, 0.04, 0.06, 0.42, 0.42], loc="upper center",
                     cellLoc="left")  # fmt: skip
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    critical = set(spectral.get("critical_layers") or []) if spectral else set()
    for (row, _), cell in table.get_celld().items():
        if row > 0 and rows[row - 1]["layer"] in critical:
            cell.set_facecolor("#fde0dd")
    ax.set_title(f"Leading components through the lens: log p(μ+2σv) − log p(μ−2σv), critical "
                 f"layers shaded\n{run_label(data)}", fontsize=9)  # fmt: skip
    return fig
