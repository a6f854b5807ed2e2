"""Tests for layertracer.methods.suite_summary: per-suite summaries (``results.suites``)."""

from __future__ import annotations

import pytest

from layertracer.config import RunConfig
from layertracer.methods.suite_summary import suite_summaries
from layertracer.pipeline import trace
from layertracer.report import write_report
from layertracer.report.html import suite_rows
from layertracer.results.summary import suite_line
from tests.conftest import tiny


def _row(suite: str, correct: bool, particle: int | None, js: list[float]) -> dict:
    return {"suite": suite, "correct": correct, "particle_layer": particle, "js_mean": js}


ROWS = [
    _row("a", True, 2, [0.1, 0.5, 0.2]),
    _row("b", False, None, [0.9, 0.1, 0.1]),
    _row("a", False, 4, [0.1, 0.1, 0.6]),
    _row("a", True, None, [0.1, 0.3, 0.1]),
    _row("b", True, 1, [0.7, 0.1, 0.1]),
]


def test_groups_in_order_with_their_own_statistics() -> None:
    suites = suite_summaries(ROWS)
    assert list(suites) == ["a", "b"]
    a, b = suites["a"], suites["b"]
    assert a["items"] == 3 and b["items"] == 2
    assert a["accuracy"] == pytest.approx(2 / 3) and b["accuracy"] == 0.5
    assert a["particle_median"] == 3 and a["particle_iqr"] == 1
    assert a["none_fraction"] == pytest.approx(1 / 3)
    assert b["particle_median"] == 1 and b["none_fraction"] == 0.5
    assert a["vulnerable_layer"] == 1 and b["vulnerable_layer"] == 0  # argmax of mean JS


def test_layers_without_the_perturbed_site_are_skipped() -> None:
    rows = [_row("a", True, 1, [None, 0.2, 0.1]), _row("a", True, 1, [float("nan"), 0.1, 0.3])]
    assert suite_summaries(rows)["a"]["vulnerable_layer"] == 2  # not 0, the null layer


def test_optional_parts_are_left_out() -> None:
    rows = [{k: v for k, v in r.items() if k != "js_mean"} for r in ROWS]
    suites = suite_summaries(rows, particles=False)
    assert suites["a"].model_fields_set == {"items", "accuracy"}  # what results.json keeps
    one = suite_summaries([{"correct": True, "particle_layer": None}])
    assert one[""]["particle_median"] is None and one[""]["none_fraction"] == 1.0


def test_line_and_report_rows_show_every_suite() -> None:
    suites = suite_summaries(ROWS)
    assert "accuracy 0.667" in suite_line(suites["a"]) and "vulnerable layer 1" in suite_line(
        suites["a"]
    )
    data = {name: s.model_dump(exclude_unset=True) for name, s in suites.items()}
    rows = suite_rows({"suites": data})  # as results.json holds them
    assert [r["name"] for r in rows] == ["a", "b"] and rows[1]["none"] == "50%"
    assert suite_rows({}) == []


def test_run_over_two_suites_summarises_each_and_keeps_demos_in_their_suite(tmp_path) -> None:
    config = RunConfig(task="capitals,antonyms", max_prompts=3, shots=2, methods=("lens",))
    results = trace(tiny("llama"), "capitals,antonyms", config)
    assert len(results.prompts) == 6
    assert [r["suite"] for r in results.prompts] == ["capitals"] * 3 + ["antonyms"] * 3
    for row in results.prompts:
        demos = row["prompt"].split("\n")[:-1]
        word = "capital" if row["suite"] == "capitals" else "opposite"
        assert len(demos) == 2 and all(word in d for d in demos)
    suites = results.suites
    assert list(suites) == ["capitals", "antonyms"]
    assert sum(s["items"] for s in suites.values()) == 6
    accuracy = sum(s["accuracy"] * s["items"] for s in suites.values()) / 6
    assert accuracy == pytest.approx(results.accuracy)
    assert "particle_median" not in suites["capitals"]
    results.save(tmp_path)
    page = write_report(results, tmp_path).read_text(encoding="utf-8")
    assert '<table id="suites">' in page and "<td>antonyms</td>" in page
    assert write_report(tmp_path).read_text(encoding="utf-8") == page  # rebuilt identically


def test_a_suite_takes_the_runs_layer_rule() -> None:
    profile = [0.9, 0.5, 0.3, 0.6, 0.2, 0.1, 0.4]  # argmax 0 (an end), interior peak 3
    rows = [_row("a", True, 1, profile), _row("a", True, 1, profile)]
    assert suite_summaries(rows)["a"]["vulnerable_layer"] == 0
    peak = suite_summaries(rows, rule="interior-peak", margin=2)["a"]
    assert peak["vulnerable_layer"] == 3 and peak["js_mean"] == pytest.approx(profile)
