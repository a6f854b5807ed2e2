"""The vulnerability figure: the JS profile with its bootstrap band, the single seeds, the
confidence set of the vulnerable layer shaded, the ends outside the interior greyed, and
how often each layer is chosen under the bootstrap (docs/method.md#stability,
docs/method.md#interior-vulnerable-layer)."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from layertracer.report.data import floats, layer_states, num_layers, run_label
from layertracer.report.style import (
    ACCENT,
    DATA,
    UNSTABLE,
    ReportFigure,
    draw_strip,
    set_layer_ticks,
    strip_legend,
)
from layertracer.results.summary import vulnerable_line


def js_curve(data: dict[str, Any]) -> Figure | None:
    """JS per perturbed layer: seeds, mean with its 95% band, the confidence set, and the
    argmax frequency of every layer under the bootstrap."""
    vul = data.get("vulnerability")
    if not vul or not vul.get("js_mean"):
        return None
    L = num_layers(data)
    layers = np.arange(L + 1)
    mean = floats(vul["js_mean"])
    interior = vul.get("interior") or {}
    freq = interior.get("frequency") or vul.get("argmax_frequency")
    fig = ReportFigure(figsize=(8.0, 5.2 if freq else 4.4), layout="constrained")
    ratios = [1.0, 0.32, 0.06] if freq else [1.0, 0.06]
    grid = fig.add_gridspec(len(ratios), 1, height_ratios=ratios)
    ax = fig.add_subplot(grid[0])
    strip = fig.add_subplot(grid[-1], sharex=ax)
    _shade_set(ax, vul)
    _shade_ends(ax, interior, L)
    for n, curve in enumerate(vul.get("js", [])):
        label = f"single seeds ({len(vul['js'])})" if n == 0 else None
        ax.plot(layers, floats(curve), color="#8c8c8c", lw=0.7, alpha=0.5, label=label)
    low, high = _band(vul, mean, L)
    ax.fill_between(layers, low, high, color=DATA, alpha=0.18, lw=0, label=_band_label(vul))
    ax.plot(layers, mean, color=DATA, lw=2, marker=".", label="mean over prompts and seeds")
    _mark_vulnerable(ax, vul, mean)
    top = max(float(np.nanmax(high)), *(float(np.nanmax(floats(c))) for c in vul.get("js", [])))
    ax.set_ylim(0, min(1.05, max(top * 1.2, 1e-4)))
    ax.set_ylabel("JS divergence (bits, 0–1)")
    ax.set_title(_title(data, vul), fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(labelbottom=False)
    if freq:
        bars = fig.add_subplot(grid[1], sharex=ax)
        _frequency_bars(bars, vul, floats(freq), "peak" if interior else "argmax")
    kinds = draw_strip(strip, [layer_states(data)])
    set_layer_ticks(strip, L)
    strip.set_xlabel("layer (0 = embeddings; i = after block i)")
    handles, _ = ax.get_legend_handles_labels()
    strip_legend(fig, kinds, handles)
    return fig


def _band(vul: dict[str, Any], mean: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap 95% band where the run has one, else mean ± std (older runs)."""
    ci = vul.get("js_ci95")
    if ci:
        low = floats([c[0] if c else None for c in ci])
        high = floats([c[1] if c else None for c in ci])
        return low, high
    std = floats(vul.get("js_std") or [0.0] * (L + 1))
    return np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1)  # JS lies in [0, 1]


def _band_label(vul: dict[str, Any]) -> str:
    if vul.get("js_ci95"):
        return "95% CI (bootstrap over prompts and seeds)"
    return "± std over seeds"


def _shade_set(ax: Axes, vul: dict[str, Any]) -> None:
    """Shades the layers of the 95% confidence set of the vulnerable layer."""
    for n, layer in enumerate(vul.get("confidence_set") or []):
        label = "95% confidence set" if n == 0 else None
        ax.axvspan(layer - 0.5, layer + 0.5, color=ACCENT, alpha=0.12, lw=0, label=label)


def _shade_ends(ax: Axes, interior: dict[str, Any], L: int) -> None:
    """Greys the layers outside the interior (an interior rule only)."""
    if not interior:
        return
    margin = interior.get("margin", 2)
    for n, (start, stop) in enumerate(((-0.5, margin - 0.5), (L - margin + 0.5, L + 0.5))):
        label = "ends (not interior)" if n == 0 else None
        ax.axvspan(start, stop, color="#d0d0d0", alpha=0.35, lw=0, hatch="//", label=label)


def _frequency_bars(ax: Axes, vul: dict[str, Any], freq: np.ndarray, what: str) -> None:
    """How often each layer is chosen (the argmax, or the interior peak) in a bootstrap
    resample's profile."""
    chosen = set(vul.get("confidence_set") or [])
    colors = [ACCENT if i in chosen else "#b0b0b0" for i in range(len(freq))]
    ax.bar(np.arange(len(freq)), np.nan_to_num(freq), color=colors, width=0.8)
    ax.set_ylim(0, 1)
    ax.set_yticks([0, 0.5, 1])
    ax.set_ylabel(f"{what}\nfrequency", fontsize=8)
    ax.tick_params(labelbottom=False, labelsize=7)
    ax.grid(axis="y", alpha=0.3)


def _mark_vulnerable(ax: Axes, vul: dict[str, Any], mean: np.ndarray) -> None:
    """A star at the reported layer (or at an interior candidate that does not stand out),
    a triangle at the global argmax when an interior rule reports another layer."""
    end = vul.get("argmax_layer")
    if vul.get("interior") and end is not None and end != vul.get("vulnerable_layer"):
        ax.plot([end], [mean[end]], marker="v", ms=9, color="#6b6b6b", ls="", label="global argmax")
    layer = vul.get("vulnerable_layer")
    candidate = (vul.get("interior") or {}).get("candidate")
    if layer is None and candidate is not None:
        layer = candidate
    if layer is None:
        return
    stable = vul.get("stable", True)
    color = ACCENT if stable else UNSTABLE
    ax.plot([layer], [mean[layer]], marker="*", ms=14, color=color, ls="")
    ax.annotate(
        f"layer {layer}"
        + ("" if stable else " (does not stand out)" if vul.get("interior") else " (not stable)"),
        (layer, mean[layer]),
        xytext=(6, 10),
        textcoords="offset points",
        color=color,
        fontsize=8,
        fontweight="bold",
    )


def _title(data: dict[str, Any], vul: dict[str, Any]) -> str:
    mode = f"{vul.get('mask_mode', '')} {vul.get('mask_ratio', '?')}"
    protocol = vul.get("protocol")
    first = (
        f"Vulnerability: JS per perturbed layer ({vul.get('site', 'residual')}, {mode}"
        f"{', protocol ' + protocol if protocol else ''}) — {run_label(data)}"
    )
    return f"{first}\nvulnerable {vulnerable_line(vul)}"
