"""Removal curves (methods/removal/curves.py): areas normalised by k = 0, the random band,
the best criterion and the comparison with random."""

from __future__ import annotations

import math

import pytest

from layertracer.engine.replay import ReplayPath
from layertracer.methods.removal.curves import (
    accuracy_auc,
    best_criterion,
    logprob_auc,
    summarize_curves,
)
from layertracer.methods.removal.scan import RemovalState


def test_accuracy_auc_is_normalised_by_k0() -> None:
    assert accuracy_auc([0.5, 0.5, 0.5]) == 1.0
    assert accuracy_auc([0.8, 0.4, 0.0]) == pytest.approx((0.6 + 0.2) / (2 * 0.8))
    assert accuracy_auc([0.0, 0.1]) is None and accuracy_auc([0.5]) is None
    assert accuracy_auc([0.4, 0.6]) > 1  # removal that helps


def test_logprob_auc_keeps_the_geometric_mean_probability() -> None:
    assert logprob_auc([-3.0, -3.0, -3.0]) == 1.0
    lp = [-1.0, -1.0 + math.log(0.5)]  # the geometric-mean probability halves
    assert logprob_auc(lp) == pytest.approx(0.75)
    assert 0 < logprob_auc([-1.0, -50.0]) < 1 and logprob_auc([-1.0]) is None


def test_best_criterion_by_accuracy_area_then_logprob() -> None:
    curves = {
        "a": {"accuracy_auc": 0.9, "logprob_auc": 0.1},
        "b": {"accuracy_auc": 0.9, "logprob_auc": 0.5},
        "c": {"accuracy_auc": 0.8, "logprob_auc": 0.9},
    }
    assert best_criterion(curves) == "b"
    for curve in curves.values():
        curve["accuracy_auc"] = None
    assert best_criterion(curves) == "c"
    assert best_criterion({}) is None


def _state() -> RemovalState:
    """Two prompts, pruned models {1}, {2}, {1, 2}."""
    state = RemovalState(replay=ReplayPath())
    state.clean_logprob = {0: -1.0, 1: -2.0}
    state.clean_correct = {0: True, 1: False}
    state.logprob = {0: [-1.5, -1.0, -3.0], 1: [-2.5, -2.0, -4.0]}
    state.correct = {0: [False, True, False], 1: [False, False, False]}
    state.kl = {0: [0.2, 0.0, 1.0], 1: [0.4, 0.1, 2.0]}
    return state


def test_summarize_curves_reads_each_order_and_the_random_band() -> None:
    sets = [frozenset({1}), frozenset({2}), frozenset({1, 2})]
    orders = {"x": [2, 1], "y": [1, 2]}
    out = summarize_curves(_state(), sets, orders, [[1, 2], [2, 1]], max_blocks=2)
    x, y, rnd = out["curves"]["x"], out["curves"]["y"], out["curves"]["random"]
    assert x["accuracy"] == [0.5, 0.5, 0.0] and y["accuracy"] == [0.5, 0.0, 0.0]
    assert x["target_logprob"] == [-1.5, -1.5, -3.5] and x["kl"] == [0.0, 0.05, 1.5]
    assert rnd["accuracy"] == [0.5, 0.25, 0.0]
    assert rnd["accuracy_band"] == [[0.5, 0.0, 0.0], [0.5, 0.5, 0.0]]
    assert rnd["accuracy_auc_band"] == [y["accuracy_auc"], x["accuracy_auc"]]
    assert rnd["accuracy_auc"] == pytest.approx((x["accuracy_auc"] + y["accuracy_auc"]) / 2)
    assert out["best"] == "x" and x["vs_random"] == "within" and rnd["vs_random"] is None


def test_without_removable_blocks_only_k0_remains() -> None:
    state = _state()
    state.logprob, state.correct, state.kl = {0: [], 1: []}, {0: [], 1: []}, {0: [], 1: []}
    out = summarize_curves(state, [], {"x": []}, [[]], max_blocks=0)
    assert out["curves"]["x"]["accuracy"] == [0.5] and out["curves"]["x"]["kl"] == [0.0]
    assert out["curves"]["x"]["accuracy_auc"] is None and out["best"] is None
