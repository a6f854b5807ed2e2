"""The figures of one run, each drawn from the results.json object alone.

Every function takes the run's ``data`` (see :func:`layertracer.report.data.run_data`) and
returns a :class:`~matplotlib.figure.Figure`, or ``None`` when the run lacks the section
it needs. Layer axes run over the ``L+1`` layer states (0 = embedding output) and carry a
strip of block types under them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from layertracer.report.data import layer_states, num_layers, probs_matrix, run_label
from layertracer.report.style import (
    ACCENT,
    DATA,
    draw_strip,
    layer_figure,
    set_layer_ticks,
    shorten,
    strip_legend,
)

LAYER_LABEL = "layer (0 = embedding output, i = after block i)"


def finish_layer_axes(
    fig: Figure, ax: Axes, strip: Axes, data: dict[str, Any], extra: list[Artist] | None = None
) -> None:
    """Block-type strip, layer ticks, x label, and one legend under the figure for all."""
    kinds = draw_strip(strip, [layer_states(data)])
    set_layer_ticks(strip, num_layers(data))
    strip.set_xlabel(LAYER_LABEL)
    strip_legend(fig, kinds, [*ax.get_legend_handles_labels()[0], *(extra or [])])


MAX_HEATMAP_ROWS = 60  # more prompts than this: one row per particle layer (their mean)


def heatmap_rows(data: dict[str, Any]) -> tuple[np.ndarray, list[str], list[int | None], bool]:
    """The rows of the lens heatmap: prompts sorted by particle layer (none last, task
    order within a layer), or beyond :data:`MAX_HEATMAP_ROWS` prompts the mean over the
    prompts of each particle layer.

    Returns:
        The rows ``[R, L+1]``, their labels (ids, or ``particle 12 (n=8)``), each row's
        particle layer, and whether the rows are aggregated.
    """
    P = probs_matrix(data)  # [N, L+1]
    particles = [row.get("particle_layer") for row in data["prompts"]]
    order = sorted(range(len(particles)), key=lambda n: _particle_key(particles[n]))
    if len(order) <= MAX_HEATMAP_ROWS:
        labels = [shorten(data["prompts"][n].get("id") or n, 26) for n in order]
        return P[order], labels, [particles[n] for n in order], False
    groups = sorted(set(particles), key=_particle_key)
    members = [[n for n in order if particles[n] == g] for g in groups]
    rows = np.stack([np.nanmean(P[m], axis=0) for m in members])
    labels = [
        f"{'no particle' if g is None else f'particle {g}'} (n={len(m)})"
        for g, m in zip(groups, members, strict=True)
    ]
    return rows, labels, groups, True


def _particle_key(layer: int | None) -> tuple[int, int]:
    return (1, 0) if layer is None else (0, layer)


def lens_heatmap(data: dict[str, Any]) -> Figure:
    """Target probability of every prompt (rows, sorted by particle layer) at every layer
    (columns), particles circled; beyond 60 prompts one row per particle layer."""
    rows, labels, particles, aggregated = heatmap_rows(data)
    R = rows.shape[0]
    fig, ax, strip, _ = layer_figure(9.0, min(max(3.2, 0.16 * R + 2.0), 12.0))
    image = ax.imshow(rows, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="none")
    marked = [(x, r) for r, x in enumerate(particles) if x is not None]
    marker = Line2D([], [], ls="", marker="o", mfc="none", mec=ACCENT, label="particle layer")
    if marked:
        xs, ys = zip(*marked, strict=True)
        size = float(np.clip(1500 / R, 6, 28))  # smaller circles when rows are thin
        ax.scatter(xs, ys, s=size, marker="o", facecolors="none", edgecolors=ACCENT, lw=1.3)
    ax.set_yticks(range(R), labels, fontsize=7 if R > 16 else 8)
    what = (
        f"mean per particle layer over {len(data['prompts'])} prompts"
        if aggregated
        else "prompts sorted by particle layer"
    )
    lens = "Tuned lens" if (data.get("lens") or {}).get("kind") == "tuned" else "Logit lens"
    ax.set_title(f"{lens}: P(target) per layer ({what}) — {run_label(data)}")
    fig.colorbar(image, ax=[ax, strip], label="P(target token)", shrink=0.9, pad=0.01)
    finish_layer_axes(fig, ax, strip, data, [marker])
    return fig


def trajectory(data: dict[str, Any]) -> Figure:
    """Mean target probability over prompts per layer, with the interquartile band."""
    P, L = probs_matrix(data), num_layers(data)
    layers = np.arange(L + 1)
    q25, median, q75 = np.nanpercentile(P, [25, 50, 75], axis=0)
    fig, ax, strip, _ = layer_figure(8.0, 4.2)
    ax.fill_between(layers, q25, q75, color=DATA, alpha=0.15, lw=0, label="IQR (25–75%)")
    ax.plot(layers, np.nanmean(P, axis=0), color=DATA, lw=2, marker=".", label="mean")
    ax.plot(layers, median, color=DATA, lw=1, ls="--", label="median")
    particles = data.get("particles") or {}
    if particles.get("median") is not None:
        ax.axvline(particles["median"], color=ACCENT, ls=":", lw=1.5, label="median particle")
    ax.set_ylim(0, max(0.05, float(np.nanmax(q75)), float(np.nanmax(np.nanmean(P, 0)))) * 1.08)
    ax.set_ylabel("P(target token)")
    ax.set_title(f"Target probability by layer ({P.shape[0]} prompts) — {run_label(data)}")
    ax.grid(axis="y", alpha=0.3)
    finish_layer_axes(fig, ax, strip, data)
    return fig


def particles(data: dict[str, Any]) -> Figure | None:
    """Histogram of the particle layers with median and IQR (the sensitivity over δ is a
    table of report.html, :func:`sensitivity_rows`, not repeated here)."""
    part = data.get("particles")
    if not part:
        return None
    L = num_layers(data)
    layers = [x for x in part.get("layers", []) if x is not None]
    fig, ax, strip, _ = layer_figure(8.0, 4.4)
    counts = np.bincount(np.asarray(layers, dtype=int), minlength=L + 1)[: L + 1]
    ax.bar(np.arange(L + 1), counts, width=0.8, color=DATA, label="prompts")
    if part.get("median") is not None:
        ax.axvline(part["median"], color=ACCENT, ls="--", lw=1.5, label="median")
    if part.get("quartiles"):
        lo, hi = part["quartiles"]
        ax.axvspan(lo - 0.5, hi + 0.5, color=ACCENT, alpha=0.1, lw=0, label="IQR", zorder=0)
    total = len(part.get("layers", [])) or 1
    none = total - len(layers)
    ax.set_title(
        f"Task particles (δ = {part.get('delta', '?')}): {len(layers)} of {total} prompts; "
        f"no particle: {none} ({none / total:.0%})"
    )
    ax.set_ylabel("prompts")
    ax.set_ylim(0, max(1, int(counts.max())) * 1.1)
    locator = ax.yaxis.get_major_locator()
    if isinstance(locator, MaxNLocator):  # the default (AutoLocator)
        locator.set_params(integer=True)
    if not layers:
        ax.text(0.5, 0.5, "no prompt has a particle", transform=ax.transAxes, ha="center")
    finish_layer_axes(fig, ax, strip, data)
    return fig


def sensitivity_rows(part: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(δ, median particle, fraction without particle) per δ of the sensitivity table."""
    rows = []
    for delta, value in sorted(part.get("sensitivity", {}).items(), key=lambda kv: float(kv[0])):
        entry = value if isinstance(value, dict) else {"median": value}
        median, none = entry.get("median"), entry.get("none_fraction")
        rows.append(
            (
                f"{float(delta):g}",
                "–" if median is None else f"{median:g}",
                "–" if none is None else f"{none:.0%}",
            )
        )
    return rows
