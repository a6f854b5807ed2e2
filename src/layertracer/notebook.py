"""Notebook conveniences of :class:`~layertracer.results.Results`: ``figure(name)``,
``report(dir)``, the inline view ``_repr_html_`` (``to_frame`` lives in
:mod:`layertracer.results.frames`), and :func:`compare` of runs in memory or on disk.

Why here: the figures belong to :mod:`layertracer.report`, which sits above ``results``
(tests/test_layout.py), so ``Results`` cannot import them. This module, ranked between
``report`` and ``cli``, implements the two views and registers them in
:mod:`layertracer.results.views`, the small registry the ``Results`` methods delegate to;
the package root imports it, so the methods work after any ``import layertracer...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layertracer.errors import ReportError
from layertracer.results import Results, views
from layertracer.results.frames import available
from layertracer.results.summary import summary_rows

# The figures shown inline, in this order (the report shows them all).
INLINE = ("trajectory", "lens_heatmap", "particles", "js")
INLINE_DPI = 80


def figure(results: Results, name: str, prompt: str | int | None = None) -> Any:
    """The matplotlib Figure that the report saves as ``<name>.png`` (same function)."""
    from layertracer.report import draw_figure
    from layertracer.report.data import run_data

    return draw_figure(run_data(results), name, prompt)


def report(results: Results, out_dir: str | Path, topk_prompt: str | int | None = None) -> Path:
    """Writes the run's figures and ``report.html`` into ``out_dir`` (``layertracer report``)."""
    from layertracer.report import write_report

    return write_report(results, out_dir, topk_prompt)


def compare(*runs: Results | str | Path, out: str | Path) -> Path:
    """Overlays two or more runs (``Results`` or run directories) on a relative depth axis,
    as ``layertracer compare`` does: writes the figures and ``compare.html`` into ``out``
    and returns the page's path.

    Raises:
        ReportError: Fewer than two runs, a run that cannot be read, or a bad ``out``.
    """
    from layertracer.report import write_compare

    return write_compare(list(runs), out)


def html(results: Results) -> str:
    """The summary rows (as in the terminal and report.html) and the main figures, as one
    HTML fragment with the figures as PNG ``data:`` URIs."""
    from layertracer.report import FIGURES, draw_figure, figure_caption
    from layertracer.report.data import run_data, run_label
    from layertracer.report.figures import sensitivity_rows
    from layertracer.report.html import Drawn, render
    from layertracer.report.style import data_uri, png

    data = run_data(results)
    captions = {name: (title, caption) for name, title, caption, _ in FIGURES}
    drawn = []
    for name in INLINE:
        try:
            fig = draw_figure(data, name)
        except ReportError:  # a figure the run has no data for is left out
            continue
        title, caption = captions[name]
        caption, _ = figure_caption(name, caption, data)  # no page to link to here
        drawn.append(Drawn(name, title, caption, data_uri(png(fig, INLINE_DPI))))
    vul = data.get("vulnerability") or {}
    return render(
        "notebook.html.j2",
        label=run_label(data),
        alert=vul.get("warning"),
        summary=[(r.measure, r.value, r.alert) for r in summary_rows(data)],
        sensitivity=sensitivity_rows(data.get("particles") or {}),
        figures=drawn,
        sections=", ".join(available(data)),
    )


views.register("figure", figure)
views.register("html", html)
views.register("report", report)
