"""Block kinds from the class-name table, confirmed by structure."""

from __future__ import annotations

import pytest

from layertracer.model.anatomy import discover
from layertracer.model.layer_types import classify_block
from tests.conftest import tiny


@pytest.mark.parametrize(
    ("model_type", "kinds"),
    [
        ("llama", {"attention"}),
        ("mamba", {"mamba"}),
        ("mamba2", {"mamba2"}),
        ("rwkv", {"rwkv"}),
        ("qwen3_moe", {"attention+moe"}),
        ("falcon_h1", {"hybrid-parallel"}),
        ("qwen3_next", {"gated_deltanet+moe", "attention+moe"}),
        ("recurrent_gemma", {"recurrent", "attention"}),
        ("lfm2", {"conv", "attention"}),
    ],
)
def test_block_kinds(model_type: str, kinds: set[str]) -> None:
    lm = tiny(model_type)
    assert set(discover(lm.model, lm.tokenizer).layer_types) == kinds


def test_a_block_without_known_parts_is_unknown() -> None:
    import torch

    assert classify_block(torch.nn.Sequential(torch.nn.Linear(2, 2))) == "unknown"
