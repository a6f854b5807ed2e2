"""Anatomy discovery by structure, checked against the model's own output."""

from __future__ import annotations

import pytest
import torch

from layertracer.config import AnatomyOverrides
from layertracer.errors import AnatomyError, FidelityError
from layertracer.model import transforms
from layertracer.model.anatomy import discover
from layertracer.model.capture import capture_blocks, forward
from tests.conftest import tiny

TYPES = ["llama", "gpt2", "mamba", "jamba", "qwen3_5", "gemma2", "granite", "cohere", "falcon_h1"]


@pytest.mark.parametrize("model_type", TYPES)
@torch.inference_mode()
def test_last_layer_lens_equals_model_logprobs(model_type: str) -> None:
    lm = tiny(model_type)
    anatomy = discover(lm.model, lm.tokenizer)
    enc = lm.tokenizer(["The capital of France is", "Rome"], return_tensors="pt", padding=True)
    with torch.inference_mode(), capture_blocks(anatomy.blocks, anatomy.slot) as cap:
        output, _ = forward(lm.model, enc["input_ids"], enc["attention_mask"])
    lens = torch.log_softmax(anatomy.logits(cap.states()[-1]), -1)
    own = torch.log_softmax(output.logits.float(), -1)
    real = enc["attention_mask"].bool()
    assert (lens[real] - own[real]).abs().max() < 1e-4
    assert anatomy.num_layers == lm.model.config.get_text_config().num_hidden_layers
    assert len(anatomy.layer_types) == anatomy.num_layers


@pytest.mark.parametrize(
    ("model_type", "op", "key"),
    [
        ("gemma2", "softcap", "final_logit_softcapping"),
        ("granite", "divide", "logits_scaling"),
        ("cohere", "multiply", "logit_scale"),
    ],
)
def test_output_transform_is_found_by_matching(model_type: str, op: str, key: str) -> None:
    anatomy = discover(tiny(model_type).model, tiny(model_type).tokenizer)
    assert anatomy.transform.ops[0][0] == op
    assert key in anatomy.transform.source


def test_missing_transform_fails_fidelity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transforms, "KEY_RULES", ())
    lm = tiny("gemma2")
    with pytest.raises(FidelityError, match="gemma2"):
        discover(lm.model, lm.tokenizer)


def test_final_norm_and_unembed_found_for_llama() -> None:
    anatomy = discover(tiny("llama").model, tiny("llama").tokenizer)
    assert anatomy.block_path == "model.layers"
    assert anatomy.final_norm_paths == ["model.norm"]
    assert anatomy.unembed_path == "lm_head"
    assert anatomy.slot == 0


def test_block_kinds_of_hybrids() -> None:
    jamba = discover(tiny("jamba").model, tiny("jamba").tokenizer).layer_types
    assert {k.split("+")[0] for k in jamba} == {"attention", "mamba"}
    qwen = discover(tiny("qwen3_5").model, tiny("qwen3_5").tokenizer).layer_types
    assert "gated_deltanet" in qwen and "attention" in qwen
    assert set(discover(tiny("mamba").model, tiny("mamba").tokenizer).layer_types) == {"mamba"}


def test_overrides_that_match_discovery_change_nothing() -> None:
    lm = tiny("llama")
    found = discover(lm.model, lm.tokenizer)
    ov = AnatomyOverrides(blocks="model.layers", final_norm=("model.norm",), unembed="lm_head")
    given = discover(lm.model, lm.tokenizer, ov)
    assert given.blocks == found.blocks and given.final_norm == found.final_norm
    assert given.unembed is found.unembed


def test_bad_override_names_the_closest_module() -> None:
    lm = tiny("llama")
    with pytest.raises(AnatomyError, match=r"did you mean model\.layers"):
        discover(lm.model, lm.tokenizer, AnatomyOverrides(blocks="model.layer"))
    with pytest.raises(AnatomyError, match="not a ModuleList"):
        discover(lm.model, lm.tokenizer, AnatomyOverrides(blocks="model.norm"))


def test_dropping_the_final_norm_fails_the_fidelity_check() -> None:
    lm = tiny("llama")
    with pytest.raises(FidelityError):
        discover(lm.model, lm.tokenizer, AnatomyOverrides(final_norm=()))
