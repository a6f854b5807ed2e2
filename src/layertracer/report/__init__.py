"""Figures and the self-contained HTML report of a run, and the comparison of several runs.

Public API::

    from layertracer.report import write_report, write_compare
    write_report("runs/capitals", "runs/capitals")       # figures + report.html
    write_compare(["runs/smol", "runs/mamba"], "runs/cmp")  # overlays + compare.html

Both read nothing but ``results.json`` (or a :class:`~layertracer.results.Results`), write
every figure as PNG (150 dpi) and SVG, and embed the PNGs in the page as ``data:`` URIs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from layertracer.errors import ReportError
from layertracer.report import (
    figures,
    js_figure,
    lens_figure,
    method_figures,
    removal,
    spectral_figures,
    topk,
)
from layertracer.report.data import output_dir, run_data
from layertracer.report.html import Drawn, render, report_context
from layertracer.report.style import data_uri, save, style
from layertracer.results import Results, atomic_write

__all__ = ["FIGURES", "draw_figure", "figure_caption", "write_compare", "write_report"]

# (file name, title, one-line caption, drawing function); README's figure list mirrors it.
FIGURES: tuple[tuple[str, str, str, Callable[[dict[str, Any]], Figure | None]], ...] = (
    ("lens_heatmap", "Lens heatmap",
     "Probability of the target token read out after every layer (columns) for every prompt "
     "(rows, sorted by particle layer, no particle last); circles mark the task particles.",
     figures.lens_heatmap),
    ("trajectory", "Target-probability trajectory",
     "Mean probability of the target token per layer over all prompts, with the median and "
     "the interquartile band; the dotted line is the median particle.", figures.trajectory),
    ("particles", "Task particles",
     "How many prompts have their particle at each layer, with median and IQR (the "
     "sensitivity to the jump threshold δ is the table in the summary).", figures.particles),
    ("lens_kl", "Logit lens and tuned lens",
     "Held-out KL divergence of the model's output from each lens's reading of every layer "
     "(bits; symmetric-log axis beyond 2 bits; 0 at the last layer); drawn when the run used a "
     "tuned lens.",
     lens_figure.lens_kl),
    ("js", "Vulnerability (Jensen–Shannon divergence)",
     "Output change when the state at each layer is perturbed: single seeds, the mean with its "
     "95% bootstrap band over prompts and seeds (the ends greyed: they move the output by "
     "construction), the vulnerable layer under the run's layer rule with its 95% "
     "confidence set (shaded) and the global argmax (triangle); under it, how often each "
     "layer is the rule's choice in a resample.", js_figure.js_curve),
    ("cka", "CKA similarity",
     "Linear CKA between every pair of layers, and δ_ℓ (mean CKA with the neighbouring "
     "layers) whose minima are the critical layers.", method_figures.cka_matrix),
    ("spectrum", "Spectrum per layer",
     "Explained-variance ratio of the top-k principal components of every layer's "
     "representations; CKA's critical layers dashed, those of generic text dotted.",
     spectral_figures.spectrum),
    ("principal_angles", "Principal angles and the split of 1 − CKA",
     "Principal angles between the top-k subspaces of consecutive layers, and 1 − CKA of "
     "each pair split into its top-k, rest and cross parts (docs/method.md#spectral).",
     spectral_figures.angles),
    ("spectral_readout", "Leading components through the lens",
     "Tokens whose lens log-probability rises most (+ side) and falls most (− side) when the "
     "layer's mean moves by ±2 standard deviations along each leading principal component, "
     "for the layers around each CKA critical layer (shaded).", spectral_figures.readout),
    ("ablation", "Layer ablation",
     "Drop in target log-probability and in first-token accuracy (final top-1 = target "
     "token) when each block is skipped.",
     method_figures.ablation),
    ("tracing", "Causal tracing",
     "Indirect effect of restoring the clean state at each layer after corrupting the "
     "subject tokens (ROME-style).", method_figures.tracing),
    ("removal", "Layer removal",
     "Accuracy and mean target log-prob when each criterion's k least critical blocks are "
     "removed (output = input); random orders as mean and min–max band.",
     removal.removal_curves),
)  # fmt: skip
TOPK = (
    "topk",
    "Top-k tokens per layer (the run's lens)",
    "The most probable next tokens read out after every layer for one prompt, shaded by "
    "probability; the target token is boxed.",
)


def write_report(
    results_or_dir: Results | dict[str, Any] | str | Path,
    out_dir: str | Path | None = None,
    topk_prompt: str | int | None = None,
) -> Path:
    """Draws every figure the run supports and writes ``report.html``.

    Args:
        results_or_dir: A ``Results``, a results.json object, or a run directory / file.
        out_dir: Where to write (default: the run directory itself).
        topk_prompt: Id or index of the prompt for the top-k table (default: automatic).

    Returns:
        The path of ``report.html``.

    Raises:
        ReportError: Missing or malformed results, or an output path that is not a folder.
    """
    data = run_data(results_or_dir)
    _known_prompt(data, topk_prompt)
    out = _out_dir(results_or_dir, out_dir)
    drawn, notes = draw_all(data, out, topk_prompt)
    page = render("report.html.j2", **report_context(data, drawn, notes))
    path = out / "report.html"
    atomic_write(path, page)
    return path


def draw_all(
    data: dict[str, Any], out: Path, topk_prompt: str | int | None = None
) -> tuple[list[Drawn], list[str]]:
    """Saves every applicable figure into ``out``; returns them and notes on skipped ones."""
    drawn: list[Drawn] = []
    notes: list[str] = []
    with style():
        for name, title, caption, draw in FIGURES:
            fig = draw(data)
            if fig is not None:
                caption, link = figure_caption(name, caption, data)
                drawn.append(Drawn(name, title, caption, data_uri(save(fig, out, name)), link))
            if name == "js":  # the top-k table comes after the run's own figures
                drawn += _topk(data, out, topk_prompt, notes)
    return drawn, notes


def draw_figure(data: dict[str, Any], name: str, prompt: str | int | None = None) -> Figure:
    """One figure of the report, by file name (``lens_heatmap``, ..., ``topk``), drawn in
    the report's style from the results.json object ``data`` (:func:`run_data`).

    Raises:
        ReportError: Unknown name, or a run without the data the figure needs.
    """
    names = [entry[0] for entry in FIGURES] + [TOPK[0]]
    if name not in names:
        raise ReportError(f"unknown figure {name!r}; figures: {', '.join(names)}")
    with style():
        if name == TOPK[0]:
            index = topk.choose_prompt(data, prompt) if topk.has_topk(data) else None
            fig = topk.topk_table(data, index) if index is not None else None
        else:
            fig = next(draw for entry, *_, draw in FIGURES if entry == name)(data)
    if fig is None:
        raise ReportError(
            f"figure {name!r}: this run has no data for it (methods: "
            f"{', '.join(data.get('config', {}).get('methods', []))})"
        )
    return fig


def figure_caption(
    name: str, caption: str, data: dict[str, Any]
) -> tuple[str, tuple[str, str] | None]:
    """A figure's caption for this run, and a link to go with it (the heatmap's rows are
    means beyond 60 prompts: the caption says so and links the per-prompt table)."""
    if name != "lens_heatmap" or len(data["prompts"]) <= figures.MAX_HEATMAP_ROWS:
        return caption, None
    rows = figures.heatmap_rows(data)[0].shape[0]
    return (
        f"Probability of the target token read out after every layer (columns). "
        f"{len(data['prompts'])} prompts are more than {figures.MAX_HEATMAP_ROWS} rows: each "
        f"row is the mean over the prompts with the same particle layer ({rows} "
        f"row{'s' if rows != 1 else ''}, n in each label), no particle last; circles mark the "
        f"particle layer.",
        ("#prompts", "Per-prompt values: the prompts table"),
    )


def _topk(
    data: dict[str, Any], out: Path, wanted: str | int | None, notes: list[str]
) -> list[Drawn]:
    index = topk.choose_prompt(data, wanted) if topk.has_topk(data) else None
    if index is None:
        notes.append(
            "Top-k tokens per layer: not shown, this results.json has no per-prompt "
            "top-k tokens (prompts[i].topk)."
        )
        return []
    fig = topk.topk_table(data, index)
    caption = f"{TOPK[2]} Prompt: {data['prompts'][index].get('id', index)}."
    return [Drawn(TOPK[0], TOPK[1], caption, data_uri(save(fig, out, TOPK[0])))]


def _known_prompt(data: dict[str, Any], wanted: str | int | None) -> None:
    """Refuses a top-k prompt (id or index) that the run does not have.

    Raises:
        ReportError: No prompt has that id or index.
    """
    rows = data["prompts"]
    if wanted is None or any(str(r.get("id")) == str(wanted) for r in rows):
        return
    if str(wanted).isdecimal() and int(str(wanted)) < len(rows):
        return
    raise ReportError(f"--prompt {str(wanted)[:80]!r}: no prompt has this id (or index)")


def _out_dir(source: object, out_dir: str | Path | None) -> Path:
    if out_dir is None:
        if not isinstance(source, (str, Path)):
            raise ReportError("an output directory is required when the input is not a directory")
        source = Path(source)
        out_dir = source if source.is_dir() else source.parent
    return output_dir(out_dir)


def write_compare(dirs: list[Results | str | Path], out_dir: str | Path) -> Path:
    """Overlays several runs (run directories or ``Results``) on a relative depth axis;
    writes PNG/SVG and ``compare.html``."""
    from layertracer.report.compare import compare

    return compare(dirs, Path(out_dir))
