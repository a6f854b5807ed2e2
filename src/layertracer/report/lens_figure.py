"""The lens figure: held-out ``KL(final ‖ lens)`` per layer of the logit and the tuned lens
(``lens.kl_bits``, docs/method.md#tuned-lens); drawn only when the run has them."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from layertracer.report.data import floats, num_layers, run_label
from layertracer.report.figures import finish_layer_axes
from layertracer.report.style import DATA, ReportFigure


def lens_kl(data: dict[str, Any]) -> Figure | None:
    """Both lenses' held-out KL to the model's output per layer (bits; a symmetric-log
    axis beyond 2 bits), the run's own lens drawn thick."""
    lens = data.get("lens") or {}
    curves, L = lens.get("kl_bits") or {}, num_layers(data)
    if not all(len(curves.get(k) or []) == L + 1 for k in ("logit", "tuned")):
        return None
    fig = ReportFigure(figsize=(8.0, 4.2), layout="constrained")
    ax, strip = fig.subplots(2, 1, sharex=True, height_ratios=[1.0, 0.08])
    layers = np.arange(L + 1)
    for kind, color in (("logit", "#6b7a99"), ("tuned", DATA)):
        own = kind == lens.get("kind")
        ax.plot(
            layers, floats(curves[kind]), color=color, marker=".", lw=2.4 if own else 1.2,
            label=f"{kind} lens{' (this run)' if own else ''}",
        )  # fmt: skip
    ax.axhline(0, color="black", lw=0.6)
    if max(max(floats(curves["logit"])), max(floats(curves["tuned"]))) > 2.0:
        ax.set_yscale("symlog", linthresh=0.1)  # tens of bits early, tenths late
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_ylabel("KL(final ‖ lens), bits")
    ax.tick_params(labelbottom=False)
    ax.set_title(f"Held-out KL of each lens to the output — {run_label(data)}")
    finish_layer_axes(fig, ax, strip, data)
    return fig
