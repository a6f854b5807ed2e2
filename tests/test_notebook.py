"""Tests for layertracer.notebook (and the registry of layertracer.results.views):
Results.figure and the inline notebook view."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest
from markupsafe import escape
from matplotlib.figure import Figure

from layertracer import Results, RunConfig, VulnerabilityConfig, trace
from layertracer.errors import ReportError, ResultsError
from layertracer.report import FIGURES, write_report
from layertracer.report.style import png
from layertracer.results import views
from layertracer.results.summary import summary_rows
from tests.conftest import tiny


@pytest.fixture(scope="module")
def results(small_task) -> Results:
    config = RunConfig(vulnerability=VulnerabilityConfig(seeds=(0, 1)))
    return trace(tiny("llama"), small_task, config)


def test_figure_is_the_reports_own_figure(results: Results, tmp_path) -> None:
    write_report(results, tmp_path, topk_prompt=results.prompts[1].id)
    for name in [name for name, *_ in FIGURES if (tmp_path / f"{name}.png").exists()] + ["topk"]:
        fig = results.figure(name, prompt=results.prompts[1].id)
        assert isinstance(fig, Figure)
        assert png(fig) == (tmp_path / f"{name}.png").read_bytes(), name  # the same pixels


def test_unknown_or_absent_figure_is_a_report_error(results: Results, small_task) -> None:
    with pytest.raises(ReportError, match="unknown figure 'heatmap'; figures: lens_heatmap"):
        results.figure("heatmap")
    lens_only = trace(tiny("llama"), small_task, RunConfig(methods=("lens",)))
    with pytest.raises(ReportError, match="figure 'js': this run has no data"):
        lens_only.figure("js")


def test_repr_html_shows_the_summary_and_the_main_figures(results: Results) -> None:
    page = results._repr_html_()
    for row in summary_rows(results.to_dict()):
        assert str(escape(row.measure)) in page and str(escape(row.value)) in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert "<script" not in page and "to_frame" in page


def test_repr_html_escapes_user_strings() -> None:
    lm = dataclasses.replace(tiny("llama"), spec="<b>my model</b>")
    page = trace(lm, [("The capital of France is", " Paris")], RunConfig(methods=("lens",)))
    html = page._repr_html_()
    assert "&lt;b&gt;my model&lt;/b&gt;" in html and "<b>my model" not in html


def test_an_unregistered_view_says_what_to_import(results: Results, monkeypatch) -> None:
    monkeypatch.setattr(views, "_VIEWS", {})
    with pytest.raises(ResultsError, match=r"import layertracer\.notebook"):
        results.figure("trajectory")


def test_repr_html_of_a_large_run_says_the_heatmap_rows_are_means() -> None:
    items = [(f"Item {n}: the capital of France is", " Paris") for n in range(64)]
    results = trace(tiny("llama"), items, RunConfig(methods=("lens", "particles")))
    html = results._repr_html_()
    assert "row is the mean over the prompts" in html and "<a href" not in html
    assert "Particle sensitivity over δ" in html


def test_figures_show_themselves_as_png_in_ipython(results: Results) -> None:
    fig = results.figure("js")
    assert fig._repr_png_()[:4] == b"\x89PNG"  # what IPython displays without %matplotlib


def test_ipython_shows_a_layertracer_error_as_one_line() -> None:
    error = ReportError("figure 'js': this run has no data\nsecond line")
    assert error._render_traceback_() == ["ReportError: figure 'js': this run has no data"]


@pytest.mark.parametrize("prompt", ["no-such-id", 999, -1])
def test_a_topk_figure_of_no_such_prompt_is_one_line(results: Results, prompt) -> None:
    with pytest.raises(ReportError, match=rf"prompt {prompt!r}: no prompt") as caught:
        results.figure("topk", prompt=prompt)
    assert "\n" not in str(caught.value)
    assert isinstance(results.figure("topk", prompt=len(results.prompts) - 1), Figure)


def test_a_list_of_task_items_is_a_task(small_task) -> None:
    config = RunConfig(methods="lens")
    from_items = trace(tiny("llama"), list(small_task.items), config)
    from_task = trace(tiny("llama"), small_task, config)
    assert [r.id for r in from_items.prompts] == [item.id for item in small_task.items]
    assert [r.target_prob for r in from_items.prompts] == [r.target_prob for r in from_task.prompts]
