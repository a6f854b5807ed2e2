"""Tests for layertracer.engine.channels: the blocks that act on later blocks other than
through their output (shared modules by structure, side channels by measurement)."""

from __future__ import annotations

import torch

from layertracer.engine.batching import build_batch
from layertracer.engine.channels import replay_blocker, shared_modules, side_channels
from layertracer.model.anatomy import discover
from layertracer.model.load import wrap
from layertracer.model.tiny.build import build_tiny
from tests.conftest import tiny


def test_shared_modules_are_found_by_structure() -> None:
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    assert shared_modules([a, b, torch.nn.Linear(2, 2)]) == {}
    reasons = shared_modules([a, b, a])
    assert set(reasons) == {1, 3} and "block 3" in reasons[1] and "block 1" in reasons[3]


def _channels(lm) -> dict[int, str]:
    """The side channels measured on one short prompt."""
    ids = lm.tokenizer("The capital of France is").input_ids
    batch = build_batch([ids], [ids[-1]], [0], pad_id=0)
    return side_channels(lm.model, discover(lm.model, lm.tokenizer), batch)


def test_a_plain_stack_has_no_side_channel() -> None:
    assert _channels(tiny("llama")) == {}
    assert replay_blocker({}) is None


def test_shared_keys_and_values_are_a_side_channel() -> None:
    """Gemma 4 with its last two layers reusing the keys and values of earlier ones."""
    kinds = ["sliding_attention", "full_attention"] * 2
    overrides = {"initializer_range": 0.2, "num_kv_shared_layers": 2, "layer_types": kinds}
    lm = wrap(*build_tiny("gemma4", overrides=overrides), "tiny:gemma4-kv-shared")
    found = _channels(lm)
    assert set(found) == {1, 2}  # the layers whose keys and values are reused
    assert all("outside the residual stream" in why for why in found.values())
    blocker = replay_blocker(found)
    assert blocker.startswith("block 1 passes state") and "(and 1 more blocks)" in blocker
