"""The figures of one run, each drawn from the results.json object alone.

Every function takes the run's ``data`` (see :func:`layertracer.report.data.run_data`) and
returns a :class:`~matplotlib.figure.Figure`, or ``None`` when the run lacks the section
it needs. Layer axes run over the ``L+1`` layer states (0 = embedding output) and carry a
strip of block types under them.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

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
    fig: Figure, ax: Axes, strip: Axes, data: dict, extra: list | None = None
) -> None:
    """Block-type strip, layer ticks, x label, and one legend under the figure for all."""
    kinds = draw_strip(strip, [layer_states(data)])
    set_layer_ticks(strip, num_layers(data))
    strip.set_xlabel(LAYER_LABEL)
    strip_legend(fig, kinds, [*ax.get_legend_handles_labels()[0], *(extra or [])])


def lens_heatmap(data: dict) -> Figure:
    """Target probability of every prompt (rows) at every layer (columns), particles marked."""
    P = probs_matrix(data)  # [N, L+1]
    N = P.shape[0]
    fig, ax, strip, _ = layer_figure(9.0, min(max(3.2, 0.19 * N + 2.0), 16.0))
    image = ax.imshow(P, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="none")
    rows = [(row["particle_layer"], n) for n, row in enumerate(data["prompts"])]
    rows = [(x, n) for x, n in rows if x is not None]
    marker = Line2D([], [], ls="", marker="o", mfc="none", mec=ACCENT, label="particle layer")
    if rows:
        xs, ys = zip(*rows, strict=True)
        size = float(np.clip(1500 / N, 6, 28))  # smaller circles when rows are thin
        ax.scatter(xs, ys, s=size, marker="o", facecolors="none", edgecolors=ACCENT, lw=1.3)
    if N <= 60:
        ids = [shorten(row.get("id") or n, 26) for n, row in enumerate(data["prompts"])]
        ax.set_yticks(range(N), ids, fontsize=7 if N > 16 else 8)
    else:
        ax.set_ylabel("prompt (row)")
    ax.set_title(f"Logit lens: P(target) per layer — {run_label(data)}")
    fig.colorbar(image, ax=[ax, strip], label="P(target token)", shrink=0.9, pad=0.01)
    finish_layer_axes(fig, ax, strip, data, [marker])
    return fig


def trajectory(data: dict) -> Figure:
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


def particles(data: dict) -> Figure | None:
    """Histogram of the particle layers, and the sensitivity table over δ beside it."""
    part = data.get("particles")
    if not part:
        return None
    L = num_layers(data)
    layers = [x for x in part.get("layers", []) if x is not None]
    fig, ax, strip, side = layer_figure(9.5, 4.4, side=0.42)
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
    ax.yaxis.get_major_locator().set_params(integer=True)
    if not layers:
        ax.text(0.5, 0.5, "no prompt has a particle", transform=ax.transAxes, ha="center")
    _sensitivity_table(side, part)
    finish_layer_axes(fig, ax, strip, data)
    return fig


def sensitivity_rows(part: dict) -> list[tuple[str, str, str]]:
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


def _sensitivity_table(side: Axes, part: dict) -> None:
    side.axis("off")
    rows = sensitivity_rows(part)
    if not rows:
        return
    table = side.table(
        cellText=rows, colLabels=["δ", "median", "none"], loc="center", cellLoc="center"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1.0, 1.35)
    current = f"{float(part.get('delta', 0.05)):g}"
    for (r, _), cell in table.get_celld().items():
        if r == 0 or (r > 0 and rows[r - 1][0] == current):
            cell.set_text_props(fontweight="bold")
    side.set_title("Sensitivity over δ", fontsize=9)
