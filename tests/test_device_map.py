"""``--device-map``: blocks placed by accelerate (here: offloaded to disk, the only second
"device" a CPU machine has) give the numbers of the plain model, replay included."""

from __future__ import annotations

import numpy as np
import pytest
from accelerate import dispatch_model

from layertracer import RunConfig, VulnerabilityConfig, trace
from layertracer.errors import ConfigError
from layertracer.model.load import input_device, load_model, wrap
from layertracer.model.tiny.build import build_tiny

CONFIG = RunConfig(batch_size=3, vulnerability=VulnerabilityConfig(seeds=(0, 1)))


def test_disk_offloaded_blocks_replay_to_the_plain_numbers(small_task, tmp_path) -> None:
    plain = wrap(*build_tiny("llama"), "tiny:llama")
    model, tokenizer = build_tiny("llama")
    layers = len(model.model.layers)
    device_map = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.norm": "cpu"}
    device_map |= {f"model.layers.{i}": "disk" if i % 2 else "cpu" for i in range(layers)}
    device_map["lm_head"] = "cpu"
    offloaded = wrap(dispatch_model(model, device_map, offload_dir=str(tmp_path)), tokenizer, "m")
    assert any(p.device.type == "meta" for p in offloaded.model.parameters())
    assert str(input_device(offloaded.model)) == "cpu"
    a, b = trace(plain, small_task, CONFIG), trace(offloaded, small_task, CONFIG)
    assert b.vulnerability["path"] == "replay"
    np.testing.assert_allclose(a.vulnerability["js"], b.vulnerability["js"], atol=1e-6)
    for x, y in zip(a.prompts, b.prompts, strict=True):
        np.testing.assert_allclose(x["target_prob"], y["target_prob"], atol=1e-6)
    assert b.environment["devices"] == ["cpu", "disk"] and a.environment["devices"] is None


def test_load_model_with_device_map_auto_dispatches_and_runs(small_task) -> None:
    lm = load_model("tiny:llama", "cpu", "float32", device_map="auto")
    assert hasattr(lm.model, "hf_device_map") and input_device(lm.model).type == "cpu"
    results = trace(lm, small_task, RunConfig(methods=("lens",), device_map="auto"))
    assert results.config["device_map"] == "auto"
    assert results.lens["fidelity_max_abs_err"] <= 1e-3


def test_device_map_option_is_validated() -> None:
    with pytest.raises(ConfigError, match="device-map"):
        RunConfig(device_map="everywhere")
