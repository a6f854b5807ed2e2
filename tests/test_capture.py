"""Hooks as context managers: outputs of any container type, always removed."""

from __future__ import annotations

import pytest
import torch

from layertracer.model.anatomy import discover
from layertracer.model.capture import (
    capture_blocks,
    edit_state,
    first_tensor,
    forward,
    replace_first_tensor,
)
from tests.conftest import tiny


def test_first_tensor_and_replace_on_every_container() -> None:
    t, new = torch.ones(2), torch.zeros(2)
    for output in (t, (None, t, 3), [5, t], {"a": 1, "b": t}):
        assert first_tensor(output) is t
        replaced = replace_first_tensor(output, new)
        assert first_tensor(replaced) is new
        assert type(replaced) is type(output)


def _llama_inputs() -> tuple:
    lm = tiny("llama")
    ids = lm.tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    return lm, discover(lm.model, lm.tokenizer), ids, torch.ones_like(ids)


@torch.inference_mode()
def test_states_are_clones_and_hooks_are_removed() -> None:
    lm, anatomy, ids, mask = _llama_inputs()
    with capture_blocks(anatomy.blocks, anatomy.slot) as cap:
        forward(lm.model, ids, mask)
    states = cap.states()
    assert len(states) == anatomy.num_layers + 1
    assert all(s.shape == (1, ids.shape[1], anatomy.hidden_size) for s in states)
    assert all(a[0][anatomy.slot] is cap.residual_in[i] for i, a in enumerate(cap.inputs))
    assert all(not b._forward_hooks and not b._forward_pre_hooks for b in anatomy.blocks)


@torch.inference_mode()
@pytest.mark.parametrize("layer", [0, 2, 4])
def test_edit_state_changes_exactly_that_layer(layer: int) -> None:
    lm, anatomy, ids, mask = _llama_inputs()
    with capture_blocks(anatomy.blocks, anatomy.slot) as clean:
        forward(lm.model, ids, mask)
    with (
        edit_state(anatomy.blocks, anatomy.slot, layer, lambda x: x + 1.0),
        capture_blocks(anatomy.blocks, anatomy.slot) as edited,
    ):
        forward(lm.model, ids, mask)
    before, after = clean.states(), edited.states()
    for i in range(layer):
        assert torch.equal(before[i], after[i])
    torch.testing.assert_close(after[layer], before[layer] + 1.0)
    for i in range(layer + 1, len(before)):
        assert not torch.allclose(before[i], after[i])
