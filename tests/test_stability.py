"""Tests for layertracer.methods.vulnerability.stability: split halves, bootstrap,
confidence sets (docs/method.md#stability)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layertracer.methods.vulnerability.stability import (
    balanced_splits,
    confidence_set,
    resampled_profiles,
    spearman_brown,
    split_half,
    uncertainty,
)


def peaked(prompts: int = 40, seeds: int = 8, layers: int = 10, peak: int = 6, noise: float = 0.02):
    """Per-prompt JS with a clear peak at ``peak`` plus small independent noise."""
    rng = np.random.default_rng(0)
    profile = np.exp(-0.5 * (np.arange(layers) - peak) ** 2)  # [L+1]
    return profile + noise * rng.standard_normal((prompts, seeds, layers))


def test_spearman_brown() -> None:
    assert spearman_brown(1.0) == 1.0 and spearman_brown(0.0) == 0.0
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(-0.5) == -1.0 and spearman_brown(-1.0) == -1.0
    assert math.isnan(spearman_brown(math.nan))


def test_balanced_splits_enumerate_each_split_once_or_sample() -> None:
    four = balanced_splits(4, 100, 0)
    assert sorted(map(tuple, four)) == [(0, 1), (0, 2), (0, 3)]  # {A, B} once
    five = balanced_splits(5, 100, 0)
    assert len(five) == 10 and all(len(s) == 2 for s in five)  # C(5, 2) halves of 2 and 3
    many = balanced_splits(16, 100, 0)
    assert len(many) == 100 and all(len(s) == 8 for s in many)
    assert all((a == b).all() for a, b in zip(many, balanced_splits(16, 100, 0), strict=True))


def test_split_half_is_one_for_identical_halves_and_none_below_four() -> None:
    js = np.broadcast_to(np.arange(10.0), (6, 4, 10)).copy()  # every prompt and seed alike
    assert split_half(js, 1) == pytest.approx(1.0) and split_half(js, 0) == pytest.approx(1.0)
    assert split_half(js[:, :3], 1) is None and split_half(js[:3], 0) is None


def test_split_half_is_near_zero_for_pure_noise() -> None:
    noise = np.random.default_rng(1).random((50, 16, 30))
    assert abs(split_half(noise, 1)) < 0.35
    assert split_half(peaked(), 1) > 0.95


def test_split_half_leaves_out_layers_without_the_site() -> None:
    js = peaked()
    js[:, :, 0] = math.nan
    assert split_half(js, 1) > 0.95


def test_resampled_profiles_are_means_of_resamples() -> None:
    js = np.random.default_rng(2).random((7, 3, 5))
    boot = resampled_profiles(js, 200, seed=4)
    assert boot.shape == (200, 5)
    assert (boot >= js.min(axis=(0, 1))).all() and (boot <= js.max(axis=(0, 1))).all()
    np.testing.assert_allclose(boot, resampled_profiles(js, 200, seed=4))
    constant = np.ones((7, 3, 5))
    np.testing.assert_allclose(resampled_profiles(constant, 50), 1.0)


def test_confidence_set_takes_the_fewest_most_frequent_layers() -> None:
    assert confidence_set(np.array([0.5, 0.3, 0.15, 0.05])) == [0, 1, 2]
    assert confidence_set(np.array([0.0, 1.0, 0.0])) == [1]
    assert confidence_set(np.array([0.25, 0.25, 0.25, 0.25])) == [0, 1, 2, 3]  # ties: lower first


def test_a_clear_peak_gives_a_one_layer_set_that_is_stable() -> None:
    found = uncertainty(peaked(), samples=300)
    assert found.confidence_set == [6] and found.argmax_frequency[6] == pytest.approx(1.0)
    assert sum(found.argmax_frequency) == pytest.approx(1.0)
    assert found.stable() and found.failures() == []
    mean = peaked().mean(axis=(0, 1))
    assert all(lo <= m <= hi for (lo, hi), m in zip(found.js_ci95, mean, strict=True))


def test_a_flat_profile_is_not_stable_and_says_why() -> None:
    flat = np.random.default_rng(3).random((20, 4, 12)) * 0.01 + 0.5
    found = uncertainty(flat, samples=300)
    assert len(found.confidence_set) > 3 and not found.stable()
    assert any("confidence set" in f for f in found.failures())
    three = uncertainty(peaked(seeds=3), samples=100)
    assert three.reliability["seeds"] is None and not three.stable()
    assert any("fewer than 4 seeds" in f for f in three.failures())


def test_layers_without_the_site_are_null() -> None:
    js = peaked()
    js[:, :, 0] = math.nan
    found = uncertainty(js, samples=100)
    assert found.js_ci95[0] is None and found.argmax_frequency[0] is None
    assert found.confidence_set == [6]


def test_the_independent_crosscheck_reproduces_a_run(tmp_path, small_task) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from layertracer import RunConfig, VulnerabilityConfig, trace
    from tests.conftest import tiny

    cfg = RunConfig(batch_size=3, vulnerability=VulnerabilityConfig(seeds=(0, 1, 2, 3, 4)))
    trace(tiny("llama"), small_task, cfg).save(tmp_path)
    script = Path(__file__).parents[1] / "scripts" / "crosscheck_stability.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("PASS"), done.stdout
