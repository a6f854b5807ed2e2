"""Tiny random models of any architecture, and the bundled offline tokenizer."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from layertracer.errors import ModelError
from layertracer.model.tiny import MUST_PASS
from layertracer.model.tiny.build import build_tiny, causal_lm_types, tiny_tokenizer
from layertracer.model.tiny.shrink import select_layers

PROMPTS = ["The capital of France is", "Two"]


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("model_type", MUST_PASS)
def test_builds_runs_and_is_seeded(model_type: str) -> None:
    model, tok = build_tiny(model_type, seed=0)
    text = model.config.get_text_config()
    assert 1 <= text.num_hidden_layers <= 4
    assert not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    batch = tok(PROMPTS, padding=True, return_tensors="pt")  # right padding
    assert batch["attention_mask"][1, -1] == 0
    with torch.no_grad():
        logits = model(**batch).logits  # [2, seq, vocab]
    assert logits.shape[:2] == batch["input_ids"].shape
    assert logits.shape[-1] >= len(tok)
    assert torch.isfinite(logits).all()
    assert _same_weights(model, build_tiny(model_type, seed=0)[0])
    assert not _same_weights(model, build_tiny(model_type, seed=1)[0])


def test_overrides_reach_the_text_config() -> None:
    over = {"final_logit_softcapping": 2.0, "initializer_range": 0.2}
    for model_type in ("gemma2", "gemma3"):  # gemma3: a multimodal wrapper
        text = build_tiny(model_type, overrides=over)[0].config.get_text_config()
        assert text.final_logit_softcapping == 2.0
        assert text.initializer_range == 0.2


def test_hybrid_patterns_keep_each_kind_twice() -> None:
    model, _ = build_tiny("qwen3_next")
    assert model.config.layer_types == [
        "linear_attention", "linear_attention", "full_attention", "full_attention"
    ]  # fmt: skip
    assert select_layers([("a",)] * 9) == [0, 1, 2, 3]
    assert select_layers([("l",), ("l",), ("l",), ("f",)] * 3) == [0, 1, 3, 7]


def test_unknown_type_names_the_closest() -> None:
    with pytest.raises(ModelError, match="llama"):
        build_tiny("lama")
    with pytest.raises(ModelError, match="unknown model type"):
        build_tiny("not-a-model-at-all")


def test_known_but_unbuildable_type_is_a_model_error() -> None:
    with pytest.raises(ModelError, match=r"tiny:gemma4_assistant could not be built: "):
        build_tiny("gemma4_assistant")  # its default config fails its own validator


def test_causal_lm_types() -> None:
    types = causal_lm_types()
    assert types == sorted(types)
    assert set(MUST_PASS) <= set(types)


def test_tokenizer() -> None:
    tok = tiny_tokenizer()
    assert len(tok) == 1000
    assert max(tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id) < 1000
    assert tok.padding_side == "right"
    text = "The capital of France is Paris. On 3 March 2021, 7 + 5 = 12!"
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == text
    paris = tok(" Paris", add_special_tokens=False)["input_ids"]
    assert paris != tok("Paris", add_special_tokens=False)["input_ids"]
    assert len(paris) == 1  # a whole word with its leading space
    assert tiny_tokenizer() is not tok  # callers may change their copy
