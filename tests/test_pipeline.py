"""The pipeline: batch == one-by-one, the results contract, particles never 0."""

from __future__ import annotations

import json

import numpy as np
import pytest

from layertracer import RunConfig, VulnerabilityConfig, trace
from tests.conftest import tiny


@pytest.mark.parametrize("model_type", ["llama", "mamba", "qwen3_5"])
@pytest.mark.parametrize("mode", ["zero", "gaussian"])
def test_batch_equals_one_by_one(small_task, model_type: str, mode: str) -> None:
    vcfg = VulnerabilityConfig(seeds=(0, 1), mask_mode=mode)
    batched = trace(tiny(model_type), small_task, RunConfig(batch_size=6, vulnerability=vcfg))
    single = trace(tiny(model_type), small_task, RunConfig(batch_size=1, vulnerability=vcfg))
    for a, b in zip(batched.prompts, single.prompts, strict=True):
        np.testing.assert_allclose(a["target_prob"], b["target_prob"], atol=1e-5)
        np.testing.assert_allclose(a["js_mean"], b["js_mean"], atol=1e-5)
        assert a["particle_layer"] == b["particle_layer"]
    np.testing.assert_allclose(batched.vulnerability["js"], single.vulnerability["js"], atol=1e-5)


def test_results_follow_the_contract(small_task, tmp_path) -> None:
    results = trace(tiny("jamba"), small_task, RunConfig(batch_size=4))
    data = json.loads(results.save(tmp_path).read_text())
    L = data["model"]["num_layers"]
    assert data["schema_version"] == 1 and data["tool"]["name"] == "layertracer"
    assert len(data["model"]["layer_types"]) == L
    assert data["lens"]["fidelity_max_abs_err"] <= 1e-3
    for row in data["prompts"]:
        assert len(row["target_prob"]) == L + 1 and len(row["js_mean"]) == L + 1
        assert row["particle_layer"] is None or 1 <= row["particle_layer"] <= L
        assert row["correct"] == (row["top1_token_id"] == row["target_token_id"])
        assert len(row["topk"]) == L + 1 and all(len(layer) == 5 for layer in row["topk"])
        probs = [p for _, p in row["topk"][L]]
        assert probs == sorted(probs, reverse=True) and row["topk"][L][0][0] == row["top1_token"]
        assert abs(probs[0] - max(row["final_prob"], probs[0])) < 1e-9
    v = data["vulnerability"]
    assert all(len(row) == L + 1 for row in v["js"])
    assert all(len(v["masked_dims"][s]) == L + 1 for s in map(str, v["seeds"]))
    assert all(len(layer) == v["k"] for layer in v["masked_dims"]["0"])
    assert len(v["js_mean"]) == len(v["js_std"]) == L + 1
    assert set(data["particles"]["sensitivity"]) == {"0.03", "0.04", "0.05", "0.06", "0.07", "0.08"}
    assert (
        data["config"]["vulnerability"]["seeds"]
        == v["seeds"]
        == list(RunConfig().vulnerability.seeds)
    )
    assert {"lens", "vulnerability"} <= set(data["timing"])
    assert (tmp_path / "prompts.csv").read_text().count("\n") == len(small_task.items) + 1


def test_methods_select_sections(small_task) -> None:
    results = trace(tiny("gpt2"), small_task, RunConfig(methods=("lens",)))
    assert results.particles is None and results.vulnerability is None
    assert results.prompts[0]["particle_layer"] is None


def test_shots_prepend_demonstrations_from_the_whole_task() -> None:
    results = trace(tiny("llama"), "capitals", RunConfig(shots=2, max_prompts=3, methods=("lens",)))
    plain = trace(tiny("llama"), "capitals", RunConfig(max_prompts=3, methods=("lens",)))
    assert len(results.prompts) == 3 and results.config["shots"] == 2
    for shot, row in zip(results.prompts, plain.prompts, strict=True):
        assert shot["prompt"].endswith("\n" + row["prompt"]) and shot["prompt"].count("\n") == 2
        assert shot["target_token_id"] == row["target_token_id"]
