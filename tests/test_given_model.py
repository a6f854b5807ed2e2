"""A model and tokenizer the caller loaded: the run records the model's own dtype and
device, refuses a dtype or device it would not honour, and checks the tokenizer before any
forward pass (one line each), leaving the caller's tokenizer as it was."""

from __future__ import annotations

import copy

import pytest
import torch

from layertracer import RunConfig, trace
from layertracer.errors import ConfigError, ModelError
from layertracer.model.load import model_dtype
from tests.conftest import tiny

ITEMS = [("The capital of France is", " Paris"), ("The capital of Italy is", " Rome")]
LENS = {"methods": "lens"}


def _state(tokenizer) -> tuple:
    return len(tokenizer), tokenizer.pad_token, tokenizer.padding_side, tokenizer.eos_token


def test_a_float32_model_asked_to_run_in_bfloat16_is_refused() -> None:
    lm = tiny("llama")
    assert model_dtype(lm.model) == "float32"
    for given in (lm, lm.model):
        tokenizer = None if given is lm else lm.tokenizer
        with pytest.raises(ConfigError, match=r"dtype='bfloat16'.*which is float32") as caught:
            trace(given, ITEMS, RunConfig(methods="lens", dtype="bfloat16"), tokenizer=tokenizer)
        assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"device='cuda'.*on cpu"):
        trace(lm, ITEMS, RunConfig(methods="lens", device="cuda"))


def test_the_models_own_dtype_and_device_are_recorded() -> None:
    lm = tiny("llama")
    half = copy.deepcopy(lm.model).to(torch.bfloat16)
    results = trace(half, ITEMS, LENS, tokenizer=lm.tokenizer)
    assert results.config["dtype"] == results.environment["dtype"] == "bfloat16"
    assert results.environment["device"] == "cpu"
    plain = trace(lm, ITEMS, LENS)
    assert plain.config["dtype"] == plain.environment["dtype"] == "float32"


def test_a_tokenizer_without_pad_eos_or_unk_is_one_line_and_left_alone() -> None:
    lm = tiny("llama")
    tokenizer = copy.deepcopy(lm.tokenizer)
    tokenizer.pad_token = tokenizer.eos_token = tokenizer.unk_token = None
    tokenizer.padding_side = "left"
    before = _state(tokenizer)
    with pytest.raises(ModelError, match=r"no pad, eos or unk token.*tokenizer\.pad_token = "):
        trace(lm.model, ITEMS, LENS, tokenizer=tokenizer)
    assert _state(tokenizer) == before


def test_a_tokenizer_larger_than_the_embedding_names_both_sizes() -> None:
    lm = tiny("llama")
    tokenizer = copy.deepcopy(lm.tokenizer)
    rows = lm.model.get_input_embeddings().num_embeddings
    tokenizer.add_tokens([f"zzword{n}" for n in range(rows - len(tokenizer) + 3)])
    before = _state(tokenizer)
    message = rf"vocabulary \({len(tokenizer)} tokens\).*embedding \({rows} rows\)"
    with pytest.raises(ModelError, match=message):
        trace(lm.model, [(f"The word zzword{rows - len(lm.tokenizer) + 1} is", " x")], LENS,
              tokenizer=tokenizer)  # fmt: skip
    assert _state(tokenizer) == before
    trace(lm.model, ITEMS, LENS, tokenizer=tokenizer)  # ids within the embedding: fine
