"""The interior vulnerable layer (docs/method.md#interior-vulnerable-layer) and how much of
the JS profile the suites share (docs/method.md#how-much-is-the-tasks): pure functions on
synthetic profiles with known answers, the section they feed, and the independent
re-computation of scripts/crosscheck_stability.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny
from layertracer import trace
from layertracer.config import VulnerabilityConfig
from layertracer.engine.replay import ReplayPath
from layertracer.methods.vulnerability.interior import choose, interior_layer, prominences
from layertracer.methods.vulnerability.perturb import MaskPlan
from layertracer.methods.vulnerability.scan import ScanState
from layertracer.methods.vulnerability.section import summarize
from layertracer.methods.vulnerability.shared import shared_profile
from layertracer.results.summary import summary_rows

#            0    1    2    3    4    5    6    7    8    9   10
PROFILE = [5.0, 4.0, 3.0, 2.0, 3.0, 2.0, 1.0, 1.5, 1.0, 0.5, 4.0]


def test_prominence_of_known_peaks() -> None:
    prom = prominences(np.array(PROFILE))
    # layer 4: bases 2 (left, before 4.0 at layer 1) and 0.5 (right, before 4.0 at 10)
    assert prom[4] == pytest.approx(1.0)
    assert prom[7] == pytest.approx(0.5)  # bases 1.0 (left) and 0.5 (right)
    assert prom[0] == prom[10] == 0  # the ends are never peaks
    assert np.count_nonzero(prom) == 2


def test_prominence_skips_layers_without_the_site_and_is_shift_and_scale_invariant() -> None:
    profile = np.array(PROFILE)
    holed = profile.copy()
    holed[5] = np.nan
    assert prominences(holed)[5] == 0 and prominences(holed)[4] > 0
    scaled = prominences(3 * profile + 7)
    assert np.allclose(scaled, 3 * prominences(profile))


def test_the_rules_on_a_known_profile() -> None:
    profile = np.array(PROFILE)
    assert choose(profile, "argmax", 2) == 0
    assert choose(profile, "interior-argmax", 2) == 2  # the endpoint's shoulder (tie: lower)
    assert choose(profile, "interior-peak", 2) == 4  # the most prominent interior peak
    assert choose(np.linspace(1, 0, 11), "interior-peak", 2) is None  # monotone: no peak


def _noisy(profile: list[float], prompts: int = 16, seeds: int = 6, scale: float = 0.02):
    rng = np.random.default_rng(1)
    base = np.array(profile)[None, None, :] / 10
    return np.clip(base + rng.normal(0, scale, (prompts, seeds, len(profile))), 0, 1)


def test_a_clear_interior_peak_stands_out_with_a_narrow_set() -> None:
    found = interior_layer(_noisy(PROFILE, scale=0.01), samples=200)
    assert found.layer == 4 and found.stands_out
    assert found.confidence_set == [4]
    assert found.reliability["seeds"] >= 0.8
    low, high = found.prominence_ci95
    assert 0 < low <= found.prominence <= high


def test_pure_noise_in_the_interior_names_no_layer() -> None:
    rng = np.random.default_rng(2)
    js = rng.uniform(0.1, 0.2, (16, 6, 11))
    js[:, :, 0] += 0.5  # a strong endpoint, as on real models
    found = interior_layer(js, samples=200)
    assert not found.stands_out
    assert choose(js.mean(axis=(0, 1)), "argmax", 2) == 0


def test_the_paper_protocol_keeps_the_argmax_and_the_default_takes_the_interior_peak() -> None:
    assert VulnerabilityConfig.preset("paper").layer_rule == "argmax"
    assert VulnerabilityConfig().layer_rule == "interior-peak"
    assert VulnerabilityConfig().protocol() == "stable"


def _section(js: np.ndarray, cfg: VulnerabilityConfig) -> dict:
    """The section as results.json holds it."""
    state = ScanState({n: js[n] for n in range(len(js))}, ReplayPath())
    plan = MaskPlan(cfg.seeds, [[[]] * js.shape[2]] * js.shape[1], torch.zeros(0), torch.zeros(0))
    return summarize(state, plan, cfg, []).model_dump(mode="json", exclude_unset=True)


def test_the_section_reports_the_interior_peak_and_keeps_the_global_argmax() -> None:
    js = _noisy(PROFILE, scale=0.01).astype(np.float32).astype(np.float64)
    section = _section(js, VulnerabilityConfig(bootstrap=200))
    assert section["vulnerable_layer"] == 4 and section["stable"]
    assert section["argmax_layer"] == 0 and 0 in section["argmax_confidence_set"]
    assert section["layer_rule"] == "interior-peak" and section["warning"] is None
    rows = {row.measure: row.value for row in summary_rows(_data(section))}
    assert rows["vulnerable layer (interior peak)"].startswith("layer 4 (95% set 4")
    assert rows["global argmax of the JS profile"].startswith("layer 0")
    paper = _section(js, VulnerabilityConfig(bootstrap=200, layer_rule="argmax"))
    assert paper["vulnerable_layer"] == 0 == paper["argmax_layer"]


def test_no_interior_layer_is_said_in_words() -> None:
    js = _noisy(list(np.linspace(1, 0, 11)), scale=0.05)
    section = _section(js, VulnerabilityConfig(bootstrap=200))
    assert section["vulnerable_layer"] is None and not section["stable"]
    assert section["warning"].startswith("No interior layer stands out")
    rows = {row.measure: row for row in summary_rows(_data(section))}
    assert rows["vulnerable layer (interior peak)"].value.startswith("none stands out")
    assert rows["vulnerable layer (interior peak)"].alert


def _data(section: dict) -> dict:
    return {"prompts": [], "lens": {}, "vulnerability": section}


@pytest.mark.parametrize("profile", [PROFILE, list(np.linspace(1, 0, 11))])
def test_the_independent_crosscheck_recomputes_the_interior_layer(tmp_path, profile) -> None:
    js = _noisy(profile, scale=0.01).astype(np.float32)
    section = _section(js.astype(np.float64), VulnerabilityConfig())
    (tmp_path / "results.json").write_text(json.dumps({"vulnerability": section}))
    np.savez(tmp_path / "arrays.npz", js=js)
    script = Path(__file__).parents[1] / "scripts" / "crosscheck_stability.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("PASS"), done.stdout + done.stderr
    section["vulnerable_layer"] = 7 if section["vulnerable_layer"] != 7 else 3  # a wrong claim
    (tmp_path / "results.json").write_text(json.dumps({"vulnerability": section}))
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 1 and done.stdout.strip().endswith("FAIL")


def test_suites_with_one_profile_share_it_and_unrelated_ones_do_not() -> None:
    rng = np.random.default_rng(3)
    same = {name: _noisy(PROFILE, prompts=12, scale=0.01) for name in "abc"}
    found = shared_profile(same, samples=50)
    assert found.shared == pytest.approx(1.0, abs=0.1)
    unrelated = {name: _noisy(list(rng.permutation(PROFILE)), prompts=12) for name in "abcd"}
    found = shared_profile(unrelated, samples=50)
    assert found.shared < 0.7
    low, high = found.shared_ci95
    assert low <= high
    assert shared_profile({"a": same["a"]}) is None  # one suite: nothing to share


def test_shared_share_needs_three_layers_to_rank() -> None:
    rng = np.random.default_rng(0)
    js = {name: rng.random((6, 4, 5)) for name in ("a", "b")}
    two = np.zeros(5, dtype=bool)
    two[2:4] = True
    assert shared_profile(js, two) is None
    got = shared_profile(js, None, samples=20, splits=5)
    assert got is not None and got.layers == [0, 1, 2, 3, 4]


def test_a_multi_suite_run_of_a_shallow_model_reports_no_shared_interior() -> None:
    results = trace(tiny("llama"), "capitals,antonyms", {"seeds": "0,1,2,3", "max_prompts": 8})
    shared = results.vulnerability["shared"]
    assert shared.get("interior") is None  # tiny llama: one interior layer, nothing to rank
    assert shared["all"] is not None and -1 <= shared["all"]["between"] <= 1
