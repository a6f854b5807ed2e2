"""Layer removal in the report: the curves of accuracy and target log-prob against the
number of removed blocks (one line per criterion, random with its band) and the table of
areas (docs/method.md#layer-removal).

Shape (``layertracer.schema.sections.RemovalSection``): ``removal {max_blocks K,
criteria, orders {name: [blocks]}, curves {name: {accuracy [K+1], target_logprob [K+1],
kl [K+1], accuracy_auc, logprob_auc, vs_random, *_band}}, best, not_removable}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from layertracer.report.data import floats, run_label
from layertracer.report.style import ReportFigure
from layertracer.results.criteria import colour as criterion_colour
from layertracer.results.summary import fmt

RANDOM = "random"
RANDOM_COLOR = "#7f7f7f"
PANELS = (("accuracy", "first-token accuracy"), ("target_logprob", "mean log P(target) (nats)"))


def color(name: str) -> str:
    """The colour of a criterion in every removal figure (its registered colour)."""
    return RANDOM_COLOR if name == RANDOM else criterion_colour(name)


def curves_of(data: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """The removal curves of a run, ``None`` when it has none."""
    removal = data.get("removal")
    if not removal or not isinstance(removal.get("curves"), dict) or not removal["curves"]:
        return None
    curves: dict[str, dict[str, Any]] = removal["curves"]
    return curves


def draw_random(
    ax: Axes, x: np.ndarray, curve: dict[str, Any], key: str, label: str, tint: str
) -> None:
    """The mean of the random orders, dashed, over its ``[min, max]`` band."""
    band = curve.get(f"{key}_band")
    if isinstance(band, list) and len(band) == 2:
        ax.fill_between(x, floats(band[0]), floats(band[1]), color=tint, alpha=0.18, lw=0)
    ax.plot(x, floats(curve[key]), color=tint, ls="--", lw=1.6, marker=".", label=label)


def removal_curves(data: dict[str, Any]) -> Figure | None:
    """Accuracy and target log-prob against the number of removed blocks, per criterion."""
    curves = curves_of(data)
    if curves is None:
        return None
    removal = data["removal"]
    fig = ReportFigure(figsize=(11.0, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    x = np.arange(int(removal.get("max_blocks", 0)) + 1)
    best = removal.get("best")
    for ax, (key, label) in zip(axes, PANELS, strict=True):
        for name, curve in curves.items():
            if len(curve.get(key) or []) != len(x):
                continue
            if name == RANDOM:
                draw_random(ax, x, curve, key, "random (mean, min–max band)", RANDOM_COLOR)
                continue
            width, text = (3.0, f"{name} (best)") if name == best else (1.5, name)
            ax.plot(x, floats(curve[key]), color=color(name), lw=width, marker=".", label=text)
        ax.set_xticks(x)
        ax.set_xlabel("blocks removed k (least critical first)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="best")
    skipped = removal.get("not_removable") or {}
    note = f"; not removable: blocks {', '.join(skipped)}" if skipped else ""
    fig.suptitle(f"Layer removal guided by each criterion{note} — {run_label(data)}", fontsize=10)
    return fig


def removal_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The table of areas: one row per criterion, best first marked."""
    curves = curves_of(data) or {}
    removal = data.get("removal") or {}
    K = int(removal.get("max_blocks", 0))
    orders = removal.get("orders") or {}
    return [
        {
            "name": str(name),
            "best": name == removal.get("best"),
            "order": ", ".join(map(str, orders.get(name, [])[:K])) or "random",
            "accuracy": fmt(curve.get("accuracy", [None] * (K + 1))[-1], ".3f"),
            "accuracy_auc": fmt(curve.get("accuracy_auc"), ".3f"),
            "logprob_auc": fmt(curve.get("logprob_auc"), ".3f"),
            "kl": fmt(curve.get("kl", [None] * (K + 1))[-1], ".3g"),
            "vs_random": _vs_random(curve),
        }
        for name, curve in curves.items()
    ]


def removal_note(data: dict[str, Any]) -> str:
    """How the table was computed, in one paragraph."""
    removal = data.get("removal")
    if not removal:
        return ""
    K, n = removal.get("max_blocks"), len(removal.get("random_orders") or [])
    return (
        f"Each criterion removes its k least critical blocks (output = input), k = 0..{K}; "
        f"AUC = trapezoid over k of accuracy / accuracy(k=0), and of exp(mean log P − mean "
        f"log P at k=0), divided by K (1 = nothing lost, higher = better). Random: mean of "
        f"{n} seeded orders; 'vs random' compares with the band of their AUCs. Measured on "
        f"the run's own {removal.get('prompts', '?')} prompts, the same ones the criteria "
        f"were computed on."
    )


def _vs_random(curve: dict[str, Any]) -> str:
    band = curve.get("accuracy_auc_band") or curve.get("logprob_auc_band")
    if band:
        return f"band [{band[0]:.3f}, {band[1]:.3f}]"
    return curve.get("vs_random") or "–"
