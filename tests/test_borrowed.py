"""Tests for layertracer.model.borrowed: a caller's model lent to a run and handed back."""

from __future__ import annotations

import pytest

from layertracer import RunConfig, trace
from layertracer.errors import ConfigError
from layertracer.model.borrowed import borrowed, model_spec
from layertracer.model.tiny import checking_model
from tests.conftest import tiny

ITEMS = [("The capital of France is", " Paris"), ("The capital of Italy is", " Rome")]


def test_spec_of_each_kind_of_model() -> None:
    lm = tiny("llama")
    assert model_spec("tiny:llama") == "tiny:llama" and model_spec(lm) == lm.spec
    assert model_spec(lm.model, lm.tokenizer) == "<loaded LlamaForCausalLM>"
    with pytest.raises(ConfigError, match="needs its tokenizer"):
        model_spec(lm.model)
    with pytest.raises(ConfigError, match="only for a loaded transformers model"):
        model_spec("tiny:llama", lm.tokenizer)
    with pytest.raises(ConfigError, match="got int"):
        model_spec(3)


def test_the_model_and_tokenizer_come_back_as_they_were() -> None:
    lm = checking_model("llama", 1)  # a fresh copy: this test changes its state
    model, tokenizer = lm.model, lm.tokenizer
    model.train()
    model.lm_head.weight.requires_grad_(True)
    tokenizer.padding_side, tokenizer.pad_token = "left", None
    with borrowed(model, tokenizer, "x") as lent:
        assert not lent.model.training and tokenizer.padding_side == "right"
        assert tokenizer.pad_token is not None
        assert not any(p.requires_grad for p in model.parameters())
    assert model.training and tokenizer.padding_side == "left" and tokenizer.pad_token is None
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["lm_head.weight"]


def test_trace_on_a_loaded_model_records_it_honestly() -> None:
    lm = checking_model("llama", 0)
    results = trace(lm.model, ITEMS, RunConfig(methods=("lens",)), tokenizer=lm.tokenizer)
    same = trace(tiny("llama"), ITEMS, RunConfig(methods=("lens",)))
    assert results.model.spec == results.config["model"] == "<loaded LlamaForCausalLM>"
    assert results.config["task"] == "<list of 2 items>"
    for a, b in zip(results.prompts, same.prompts, strict=True):
        assert a.target_prob == pytest.approx(b.target_prob, abs=1e-6)
