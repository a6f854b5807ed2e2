"""Several runs side by side on a relative depth axis (``layer / L``).

Models of different depth and architecture (a 30-block Transformer, a 4-block Mamba) are
compared at the same fraction of their depth: layer state ``i`` of a model with ``L``
blocks sits at ``i / L`` (0 = embedding output, 1 = last block).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from layertracer.errors import ReportError
from layertracer.report.data import (
    floats,
    layer_states,
    num_layers,
    output_dir,
    probs_matrix,
    run_data,
    run_label,
)
from layertracer.report.html import Drawn, block_summary, render
from layertracer.report.removal import RANDOM, curves_of
from layertracer.report.style import (
    RUN_COLORS,
    ReportFigure,
    data_uri,
    draw_strip,
    save,
    strip_legend,
    style,
)
from layertracer.results import Results, atomic_write
from layertracer.results.summary import fmt, layer_set

DEPTH_LABEL = "relative depth (layer / L; 0 = embedding output, 1 = last block)"


def compare(dirs: list[Results | str | Path], out: Path) -> Path:
    """Loads every run (a run directory, or a ``Results`` in memory), draws the overlays
    into ``out`` and writes ``compare.html``.

    Raises:
        ReportError: Fewer than two runs, or a run that cannot be read.
    """
    if len(dirs) < 2:
        raise ReportError(f"compare needs at least 2 run directories, got {len(dirs)}")
    runs = [run_data(d if isinstance(d, Results) else Path(d)) for d in dirs]
    where = [
        f"(run {n + 1}, in memory)" if isinstance(d, Results) else d for n, d in enumerate(dirs)
    ]
    out = output_dir(out)
    labels = _labels(runs, where)
    drawn = []
    with style():
        for name, title, caption, draw in PANELS:
            fig = draw(runs, labels)
            if fig is not None:
                drawn.append(Drawn(name, title, caption, data_uri(save(fig, out, name))))
    page = render(
        "compare.html.j2",
        title=f"layertracer comparison of {len(runs)} runs",
        runs=[_row(run, label, d) for run, label, d in zip(runs, labels, where, strict=True)],
        figures=drawn,
        tool=runs[0].get("tool", {}),
    )
    path = out / "compare.html"
    atomic_write(path, page)
    return path


def _labels(runs: list[dict[str, Any]], dirs: list[str | Path]) -> list[str]:
    """Run labels, made unique with the directory name where two runs share one."""
    labels = [run_label(run) for run in runs]
    counts = Counter(labels)
    return [
        f"{label} ({Path(d).name})" if counts[label] > 1 else label
        for label, d in zip(labels, dirs, strict=True)
    ]


def _depth(run: dict[str, Any]) -> np.ndarray:
    L = num_layers(run)
    return np.arange(L + 1) / L


def _overlay_figure(runs: list[dict[str, Any]]) -> tuple[Figure, Axes, Axes]:
    fig = ReportFigure(figsize=(8.5, 4.6 + 0.16 * len(runs)), layout="constrained")
    ax, strip = fig.subplots(2, 1, sharex=True, height_ratios=[1.0, 0.065 * len(runs)])
    ax.tick_params(labelbottom=False)
    return fig, ax, strip


def _finish(
    fig: Figure, ax: Axes, strip: Axes, runs: list[dict[str, Any]], labels: list[str]
) -> None:
    kinds = draw_strip(strip, [layer_states(r) for r in runs], labels=labels, relative=True)
    strip.set_xlim(-0.02, 1.02)
    strip.set_xticks(np.linspace(0, 1, 11))
    strip.set_xlabel(DEPTH_LABEL)
    ax.grid(axis="y", alpha=0.3)
    strip_legend(fig, kinds, ax.get_legend_handles_labels()[0])


def trajectories(runs: list[dict[str, Any]], labels: list[str]) -> Figure:
    """Mean target probability per relative depth, one curve and IQR band per run."""
    fig, ax, strip = _overlay_figure(runs)
    for n, (run, label) in enumerate(zip(runs, labels, strict=True)):
        P, x, color = probs_matrix(run), _depth(run), RUN_COLORS[n % len(RUN_COLORS)]
        q25, q75 = np.nanpercentile(P, [25, 75], axis=0)
        ax.fill_between(x, q25, q75, color=color, alpha=0.15, lw=0)
        ax.plot(x, np.nanmean(P, axis=0), color=color, lw=2, marker=".", label=label)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("P(target token), mean and IQR")
    ax.set_title("Logit-lens trajectories by relative depth")
    _finish(fig, ax, strip, runs, labels)
    return fig


def particle_distributions(runs: list[dict[str, Any]], labels: list[str]) -> Figure | None:
    """Share of prompts whose particle falls in each tenth of the depth, per run."""
    if not any(run.get("particles") for run in runs):
        return None
    fig, ax, strip = _overlay_figure(runs)
    bins = np.linspace(0, 1, 11)
    for n, (run, label) in enumerate(zip(runs, labels, strict=True)):
        part, color = run.get("particles"), RUN_COLORS[n % len(RUN_COLORS)]
        if not part:
            continue
        layers = part.get("layers", [])
        rel = np.array([x for x in layers if x is not None], dtype=float) / num_layers(run)
        counts, _ = np.histogram(rel, bins=bins)
        share = counts / max(len(layers), 1)
        none = 1 - len(rel) / max(len(layers), 1)
        ax.stairs(share, bins, color=color, lw=2, label=f"{label} (no particle: {none:.0%})")
        if part.get("median") is not None:
            ax.axvline(part["median"] / num_layers(run), color=color, ls="--", lw=1.2)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("share of prompts")
    ax.set_title("Task-particle distributions by relative depth (dashed: medians)")
    _finish(fig, ax, strip, runs, labels)
    return fig


def js_curves(runs: list[dict[str, Any]], labels: list[str]) -> Figure | None:
    """JS divergence per relative depth, mean with its 95% bootstrap band (± std over seeds
    for runs without one), vulnerable layers starred."""
    if not any((run.get("vulnerability") or {}).get("js_mean") for run in runs):
        return None
    fig, ax, strip = _overlay_figure(runs)
    for n, (run, label) in enumerate(zip(runs, labels, strict=True)):
        vul, color = run.get("vulnerability") or {}, RUN_COLORS[n % len(RUN_COLORS)]
        if not vul.get("js_mean"):
            continue
        x, mean = _depth(run), floats(vul["js_mean"])
        if vul.get("js_ci95"):
            low = floats([c[0] if c else None for c in vul["js_ci95"]])
            high = floats([c[1] if c else None for c in vul["js_ci95"]])
        else:
            std = floats(vul.get("js_std") or [0.0] * len(mean))
            low, high = np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1)
        ax.fill_between(x, low, high, color=color, alpha=0.15, lw=0)
        ax.plot(x, mean, color=color, lw=2, marker=".", label=label)
        layer = vul.get("vulnerable_layer")
        if layer is not None:
            ax.plot([x[layer]], [mean[layer]], marker="*", ms=15, color=color, mec="black", ls="")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("JS divergence (bits), mean, 95% band")
    ax.set_title("Vulnerability by relative depth (stars: vulnerable layers)")
    _finish(fig, ax, strip, runs, labels)
    return fig


def removal_curves(runs: list[dict[str, Any]], labels: list[str]) -> Figure | None:
    """Accuracy against the fraction of blocks removed (k / L): per run its best
    criterion (solid), JS (dotted) and the random orders (dashed, min–max band)."""
    if not any(curves_of(run) for run in runs):
        return None
    fig = ReportFigure(figsize=(8.5, 4.8), layout="constrained")
    ax = fig.subplots()
    for n, (run, label) in enumerate(zip(runs, labels, strict=True)):
        curves, color = curves_of(run), RUN_COLORS[n % len(RUN_COLORS)]
        if not curves:
            continue
        best = run["removal"].get("best")
        x = np.arange(int(run["removal"].get("max_blocks", 0)) + 1) / num_layers(run)
        if RANDOM in curves:
            band = curves[RANDOM].get("accuracy_band")
            if isinstance(band, list) and len(band) == 2:
                ax.fill_between(x, floats(band[0]), floats(band[1]), color=color, alpha=0.12, lw=0)
            ax.plot(x, floats(curves[RANDOM]["accuracy"]), color=color, ls="--", lw=1.2)
        if best in curves:
            ax.plot(x, floats(curves[best]["accuracy"]), color=color, lw=2, marker=".",
                    label=f"{label}: {best} (best)")  # fmt: skip
        if "js" in curves and best != "js":
            ax.plot(x, floats(curves["js"]["accuracy"]), color=color, ls=":", lw=1.6,
                    label=f"{label}: js")  # fmt: skip
    ax.set_xlabel("fraction of blocks removed (k / L)")
    ax.set_ylabel("first-token accuracy")
    ax.set_title("Layer removal by relative depth (dashed: random orders, band min–max)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


PANELS = (
    ("compare_trajectory", "Trajectories",
     "Mean target probability (IQR shaded) against relative depth; strips show each model's "
     "block types.", trajectories),
    ("compare_particles", "Particle distributions",
     "Share of prompts with their particle in each tenth of the depth; dashed lines are "
     "the medians.", particle_distributions),
    ("compare_js", "Vulnerability",
     "Jensen–Shannon divergence per perturbed layer (mean, shaded: the 95% bootstrap band "
     "over prompts and seeds, or ± std over seeds for runs without one); stars mark each "
     "run's vulnerable layer.", js_curves),
    ("compare_removal", "Layer removal",
     "Accuracy when each run's best criterion (solid) or JS (dotted) removes its least "
     "critical blocks, against the fraction of blocks removed; dashed: random orders with "
     "their min–max band.", removal_curves),
)  # fmt: skip


STABLE: dict[object, str] = {True: "yes", False: "no"}  # vulnerability.stable in words


def _rel(layer: float | None, L: int) -> str:
    return "–" if layer is None else f"{float(layer) / L:.2f}"


def _row(run: dict[str, Any], label: str, directory: str | Path) -> dict[str, Any]:
    """One line of the comparison table: absolute and relative particle / vulnerable layer."""
    L = num_layers(run)
    part, vul = run.get("particles") or {}, run.get("vulnerability") or {}
    median, layer = part.get("median"), vul.get("vulnerable_layer")
    return {
        "label": label,
        "dir": str(directory),
        "model_type": str(run["model"].get("model_type", "?")),
        "L": L,
        "blocks": block_summary(run["model"]["layer_types"]),
        "accuracy": "–" if run.get("accuracy") is None else f"{run['accuracy']:.3f}",
        "particle": "–" if median is None else f"{median:g}",
        "particle_rel": _rel(median, L),
        "none": "–" if not part else f"{part.get('none_fraction', 0):.0%}",
        "vulnerable": "–" if layer is None else str(layer),
        "vulnerable_rel": _rel(layer, L),
        "set": layer_set(vul["confidence_set"]) if vul.get("confidence_set") else "–",
        "reliability": fmt((vul.get("reliability") or {}).get("seeds"), ".2f"),
        "protocol": str(vul.get("protocol") or "–"),
        "stable": STABLE.get(vul.get("stable"), "–"),
    }
