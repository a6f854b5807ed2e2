"""Agreement between per-layer criteria; every method on tiny llama, mamba and jamba."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from layertracer import RunConfig, trace
from layertracer.config import ALL_METHODS, AgreementConfig, parse_methods
from layertracer.methods.agreement import (
    Measured,
    agreement_section,
    cka_criterion,
    compare,
    compare_rows,
    lens_slope,
    measure,
    particle_onehot,
    prompt_criterion,
    resample_weights,
)
from layertracer.methods.cka.core import cka_from_grams, delta, grams_from_rows
from layertracer.report import write_report
from layertracer.results.criteria import registered
from layertracer.stages import STAGES
from tests.conftest import run_cli, tiny


def test_prompt_criterion_is_the_weighted_mean_of_finite_entries() -> None:
    values = np.array([[math.nan, 1.0, 2.0], [math.nan, 3.0, math.nan]])
    curves = prompt_criterion(values)(np.array([[1.0, 1.0], [0.0, 2.0], [3.0, 1.0]]))
    np.testing.assert_allclose(curves[0], [math.nan, 2.0, 2.0])
    np.testing.assert_allclose(curves[1], [math.nan, 3.0, math.nan])
    np.testing.assert_allclose(curves[2], [math.nan, 1.5, 2.0])


def test_resample_weights_count_draws_with_replacement() -> None:
    weights = resample_weights(7, 50, seed=3)
    assert weights.shape == (50, 7) and (weights.sum(1) == 7).all()
    assert (weights == resample_weights(7, 50, seed=3)).all()
    assert (weights.max(1) > 1).any()  # repeats happen


def test_particle_onehot_and_lens_slope() -> None:
    onehot = particle_onehot([2, None], 3)
    np.testing.assert_allclose(onehot, [[math.nan, 0, 1], [math.nan, 0, 0]])
    slope = lens_slope(np.array([[0.0, 0.1, 0.5], [0.0, 0.4, 0.4]]))
    np.testing.assert_allclose(slope, [[math.nan, 0.1, 0.4], [math.nan, 0.4, 0]])
    js = np.array([[0.3, 0.2, 0.1], [0.1, 0.2, 0.3]])
    twice_second = prompt_criterion(js)(np.array([[0.0, 2.0]]))
    np.testing.assert_allclose(twice_second, [[0.1, 0.2, 0.3]])


def test_compare_drops_null_layers() -> None:
    a = np.array([math.nan, 1.0, 2.0, 3.0, 0.5])
    rho, r, dist = compare(a, np.array([5.0, 2.0, 4.0, 6.0, 1.0]))
    assert rho == pytest.approx(1.0) and r == pytest.approx(0.9, abs=0.1) and dist == 0.0
    rho, r, dist = compare(a, np.array([0.0, 3.0, 2.0, 1.0, 4.0]))  # argmax 3 vs 4
    assert rho < 0 and dist == 1.0
    assert math.isnan(compare(a, np.array([0.0, 1.0, 2.0, math.nan, math.nan]))[0])


def test_compare_rows_equals_compare_row_by_row() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, (200, 7)).astype(float)  # many ties and constant rows
    b = rng.normal(size=(200, 7))
    a[:50, 0] = math.nan
    b[25:75, 1:3] = math.nan
    b[190:, 2:] = math.nan  # fewer than 3 common layers
    a[180:185] = 1.0
    rows = np.array([compare(x, y) for x, y in zip(a, b, strict=True)])  # [B, 3]
    np.testing.assert_allclose(np.stack(compare_rows(a, b), axis=1), rows, atol=1e-12)
    assert np.isnan(rows[190:, :2]).all() and np.isnan(rows[180:185, 0]).all()


def synthetic(count: int = 40, layers: int = 9, seed: int = 0) -> dict:
    """Two noisy per-prompt criteria sharing a per-layer signal, and one unrelated."""
    rng = np.random.default_rng(seed)
    signal = np.sin(np.linspace(0, 3, layers))
    return {
        "js": prompt_criterion(signal + rng.normal(0, 1.0, (count, layers))),
        "ablation": prompt_criterion(2 * signal + rng.normal(0, 1.0, (count, layers))),
        "tracing": prompt_criterion(rng.normal(0, 1.0, (count, layers))),
    }


def test_bootstrap_cis_are_bca_seeded_and_flag_degenerate_statistics() -> None:
    first = measure(synthetic(), 40, samples=300, seed=0)
    for pair in first["pairs"]:
        for key in ("spearman", "pearson", "layer_distance"):
            ci = pair[f"{key}_ci95"]
            assert (ci is None) == (key in pair["degenerate"]), (pair["a"], pair["b"], key)
            assert ci is None or ci[0] <= ci[1]
    assert first["pairs"][0]["spearman_ci95"][0] > 0.5  # the shared signal is found
    assert first == measure(synthetic(), 40, samples=300, seed=0)
    other = measure(synthetic(), 40, samples=300, seed=1)
    assert other["pairs"][0]["spearman_ci95"] != first["pairs"][0]["spearman_ci95"]
    assert other["pairs"][0]["spearman"] == first["pairs"][0]["spearman"]
    assert measure(synthetic(), 40, samples=0, seed=0)["pairs"][0]["spearman_ci95"] is None


def test_cka_criterion_is_one_minus_delta_and_resampled_from_grams() -> None:
    rng = np.random.default_rng(0)
    reps = rng.normal(size=(12, 4, 3)).cumsum(axis=1)  # [n, L+1, d]
    grams = grams_from_rows(dict(enumerate(reps)))
    deltas = delta(cka_from_grams(grams, "biased"))
    fixed = cka_criterion(deltas.tolist(), None, "biased")
    resampled = cka_criterion(deltas.tolist(), grams, "biased")
    everyone = np.ones((1, 12))
    np.testing.assert_allclose(fixed(everyone), [[math.nan, *(1 - deltas[1:])]])
    np.testing.assert_allclose(resampled(everyone), fixed(everyone), atol=1e-12)
    some = resample_weights(12, 3, seed=0)
    np.testing.assert_allclose(fixed(some), np.tile(fixed(everyone), (3, 1)))
    assert not np.allclose(resampled(some)[:, 1:], fixed(some)[:, 1:])


def test_agreement_runs_last() -> None:
    assert list(STAGES)[-1] == "agreement"
    assert parse_methods("all") == ALL_METHODS
    order = (
        "lens", "particles", "vulnerability", "cka", "spectral", "ablation", "tracing", "removal",
    )  # fmt: skip
    assert list(ALL_METHODS) == [m for m in (*order, "agreement") if m in ALL_METHODS]
    assert list(STAGES) == list(ALL_METHODS)  # stages run in the order of the methods


@pytest.mark.parametrize("model_type", ["llama", "mamba", "jamba"])
def test_every_method_runs_on_tiny_models(small_task, model_type: str) -> None:
    cfg = RunConfig(batch_size=4, methods=ALL_METHODS, agreement=AgreementConfig(50))
    data = trace(tiny(model_type), small_task, cfg).to_dict()
    L = data["model"]["num_layers"]
    cka = data["cka"]
    assert cka["n"] == len(small_task.items) and len(cka["matrix"]) == L + 1
    assert all(len(row) == L + 1 for row in cka["matrix"])
    assert all(v is None or abs(v - 1) < 1e-9 for v in np.diag(np.array(cka["matrix"])))
    assert len(cka["delta"]) == L + 1 and cka["critical_layer"] in range(1, L + 1)
    agreement = data["agreement"]
    names = agreement["criteria"]
    order = [c.name for c in registered()]
    assert names == [c for c in order if c in names] and {"lens_slope", "cka"} <= set(names)
    assert len(agreement["pairs"]) == len(names) * (len(names) - 1) // 2
    for pair in agreement["pairs"]:
        for key in ("spearman", "pearson"):
            assert pair[key] is None or -1 - 1e-9 <= pair[key] <= 1 + 1e-9
            ci = pair[f"{key}_ci95"]
            assert ci is None or ci[0] <= ci[1]
        assert pair["layer_distance"] is None or 0 <= pair["layer_distance"] <= L
    assert agreement["bootstrap"] == {**agreement["bootstrap"], "samples": 50, "seed": 0}
    assert list(data["timing"]).index("agreement") > list(data["timing"]).index("cka")


def test_cli_methods_all_writes_every_section(tmp_path, capsys) -> None:
    args = ["run", "--model", "tiny:llama", "--task", "capitals", "--max-prompts", "5"]
    args += ["--out", str(tmp_path), "--methods", "all", "--cka-estimator", "debiased"]
    code, _, err = run_cli([*args, "--cka-representation", "mean"], capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "results.json").read_text())
    L = data["model"]["num_layers"]
    shape = {  # per-layer arrays L+1 long
        "cka": ["estimator", "representation", "n", "matrix", "delta", "critical_layers"],
        "ablation": ["target_logprob_drop", "accuracy_drop", "critical_layer"],
        "causal_tracing": ["noise_scale", "copies", "indirect_effect", "critical_layer"],
        "agreement": ["pairs"],
    }
    for section, keys in shape.items():
        assert set(keys) <= set(data[section]), section
    assert len(data["cka"]["matrix"]) == len(data["cka"]["delta"]) == L + 1
    assert len(data["ablation"]["target_logprob_drop"]) == L + 1
    assert data["ablation"]["target_logprob_drop"][0] is None
    assert len(data["causal_tracing"]["indirect_effect"]) == L + 1
    pair_keys = {"a", "b", "spearman", "pearson", "spearman_ci95", "layer_distance"}
    assert all(pair_keys <= set(p) for p in data["agreement"]["pairs"])
    assert data["cka"]["estimator"] == "debiased" and data["cka"]["representation"] == "mean"
    assert data["config"]["cka"] == {"estimator": "debiased", "representation": "mean"}
    page = (tmp_path / "report.html").read_text()
    assert "Agreement between criteria" in page and "lens_slope" in page
    assert (tmp_path / "cka.png").exists()
    before = page
    code, _, err = run_cli(["report", str(tmp_path)], capsys)
    assert code == 0, err
    assert (tmp_path / "report.html").read_text() == before
    data["agreement"]["pairs"][0]["a"] = "<b>x</b>"
    data["agreement"]["bootstrap"]["seed"] = "<i>"
    page = write_report(data, tmp_path / "escaped").read_text()
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x" not in page and "<i>" not in page


def test_cli_rejects_a_bad_estimator(tmp_path, capsys) -> None:
    args = ["run", "--model", "tiny:llama", "--out", str(tmp_path), "--cka-estimator", "x"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "--cka-estimator" in err and len(err.strip().splitlines()) == 1


def test_section_without_cka_or_particles() -> None:
    probs = np.array([[0.0, 0.1 * n, 0.2, 0.9 - 0.1 * n] for n in range(5)])
    measured = {"lens_slope": Measured.of_prompts(lens_slope(probs))}
    section = agreement_section(measured, len(probs), 10, 0)
    assert section["criteria"] == ["lens_slope"] and section["pairs"] == []
    assert "cka" not in section["bootstrap"]
