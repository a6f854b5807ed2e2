"""Tests for layertracer.results.summary: one summary for the terminal and the report."""

from __future__ import annotations

from layertracer.report.html import summary_rows as html_rows
from layertracer.results.summary import suite_line, summary_rows, vulnerable_line


def _data(**vulnerability: object) -> dict:
    v = {
        "vulnerable_layer": 1, "js_mean": [0.1, 0.5, 0.2], "js_std": [0.0, 0.1, 0.1],
        "seeds": [0, 1, 2], "stable": False, "seed_agreement": 1 / 3, "massive_dims": [3, 9],
        "per_seed_vulnerable_layer": [1, 2, 0], "protect_massive": "none", "path": "replay",
        "replay_max_abs_err": 1e-6, **vulnerability,
    }  # fmt: skip
    return {
        "prompts": [{}, {}],
        "accuracy": 0.5,
        "lens": {"fidelity_max_abs_err": 0.0},
        "vulnerability": v,
        "ablation": {"critical_layer": 2, "target_logprob_drop": [None, 0.1, 0.7]},
    }


def test_rows_name_the_vulnerable_layer_with_its_uncertainty_and_alert_when_unstable() -> None:
    old = {r.measure: r for r in summary_rows(_data())}  # a run without the bootstrap fields
    assert old["vulnerable layer (global argmax)"].value == "layer 1 (agreement 33%, 3 seeds)"
    assert old["JS at the vulnerable layer"].value == "0.500 (± 0.100)"
    assert old["stable"].alert and old["stable"].value.startswith("NO")
    assert old["massive channels"].value == "2 (protect: none)"
    assert old["ablation critical layer"].value == "2 (Δ log P(target) 0.70 nats)"
    new = _data(
        stable=True, confidence_set=[1, 2], reliability={"seeds": 0.93, "prompts": 0.99},
        js_ci95=[[0.0, 0.2], [0.4, 0.6], [0.1, 0.3]],
    )  # fmt: skip
    rows = {r.measure: r for r in summary_rows(new)}
    assert (
        rows["vulnerable layer (global argmax)"].value
        == "layer 1 (95% set 1–2, reliability 0.93, 3 seeds)"
    )
    assert rows["JS at the vulnerable layer"].value == "0.500 (95% CI 0.400–0.600)"
    assert rows["stable"].value == "yes" and not rows["stable"].alert
    assert vulnerable_line({**new["vulnerability"], "confidence_set": [3, 7, 12]}).startswith(
        "layer 1 (95% set {3, 7, 12}"
    )


def test_a_state_site_counts_the_massive_elements_of_every_layer() -> None:
    data = _data(site="state", massive_dims=[], massive_dims_per_layer={"1": [4, 5], "2": [7]})
    rows = {r.measure: r.value for r in summary_rows(data)}
    assert rows["massive channels"] == "3 (protect: none)"


def test_the_report_shows_the_same_rows_as_the_terminal() -> None:
    data = _data(site="state", massive_dims=[], massive_dims_per_layer={"1": [4]})
    assert html_rows(data) == [(r.measure, r.value) for r in summary_rows(data)]


def test_removal_row_names_the_best_criterion_and_random() -> None:
    data = _data()
    curves = {"bi": {"accuracy_auc": 0.9, "logprob_auc": 0.8}, "random": {"accuracy_auc": 0.6}}
    data["removal"] = {"best": "bi", "max_blocks": 7, "curves": curves}
    rows = {r.measure: r.value for r in summary_rows(data)}
    assert rows["layer removal: best criterion"] == (
        "bi (accuracy AUC 0.900 vs random 0.600, k ≤ 7 blocks)"
    )
    curves["bi"]["accuracy_auc"] = None  # unpruned accuracy 0: the log-prob area decides
    curves["random"]["logprob_auc"] = 0.5
    rows = {r.measure: r.value for r in summary_rows(data)}
    assert rows["layer removal: best criterion"].startswith(
        "bi (log-prob AUC 0.800 vs random 0.500"
    )


def test_suite_line() -> None:
    line = suite_line(
        {"items": 3, "accuracy": 2 / 3, "particle_median": 4.0, "vulnerable_layer": 1}
    )
    assert line == (
        "3 items, first-token accuracy 0.667, particle 4 (IQR –, none –), vulnerable layer 1"
    )
