"""The logit lens: chunking changes nothing; the last layer is the model's own output."""

from __future__ import annotations

import pytest
import torch

from layertracer.model.anatomy import discover
from layertracer.model.capture import capture_blocks, model_logprobs
from layertracer.model.lens import gather_rows, lens_each, lens_logprobs, trajectories
from tests.conftest import tiny


@torch.inference_mode()
@pytest.mark.parametrize("budget", [1, 3000, 2**26])
def test_lens_each_equals_one_call_per_row_set(budget: int) -> None:
    lm = tiny("llama")
    anatomy = discover(lm.model, lm.tokenizer)
    rows = [torch.randn(3, anatomy.hidden_size) for _ in range(5)]
    got = dict(lens_each(anatomy, rows, budget))
    assert sorted(got) == list(range(5))
    for i, r in enumerate(rows):
        torch.testing.assert_close(got[i], lens_logprobs(anatomy, r), atol=1e-5, rtol=0)


@torch.inference_mode()
@pytest.mark.parametrize("model_type", ["llama", "gemma2", "mamba"])
def test_trajectory_last_layer_is_model_output_on_a_padded_batch(model_type: str) -> None:
    lm = tiny(model_type)
    anatomy = discover(lm.model, lm.tokenizer)
    enc = lm.tokenizer(
        ["A much longer prompt about Paris and Rome", "Rome"], return_tensors="pt", padding=True
    )
    ids, mask = enc["input_ids"], enc["attention_mask"]
    last, targets = mask.sum(1) - 1, torch.tensor([5, 9])
    with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
        own = model_logprobs(lm.model, ids, mask, last)
    traj = trajectories(anatomy, cap.states(), last, targets)
    assert traj.target_prob.shape == (2, anatomy.num_layers + 1)
    torch.testing.assert_close(traj.final_logprobs, own, atol=1e-4, rtol=0)
    torch.testing.assert_close(
        traj.target_prob[:, -1], own.gather(1, targets[:, None])[:, 0].exp(), atol=1e-5, rtol=0
    )
    assert torch.equal(traj.top1[:, -1], own.argmax(-1))
    rows = gather_rows(cap.states()[0], last)
    assert rows.shape == (2, anatomy.hidden_size)


@torch.inference_mode()
def test_lens_never_sees_more_than_the_budget_nor_padded_positions() -> None:
    lm = tiny("llama")
    anatomy = discover(lm.model, lm.tokenizer)
    seen: list[tuple[int, ...]] = []
    handle = anatomy.unembed.register_forward_hook(lambda _m, a, _o: seen.append(a[0].shape))
    try:
        vocab, rows = anatomy.vocab_size, [torch.randn(3, anatomy.hidden_size) for _ in range(7)]
        budget = 2 * 3 * vocab  # two row sets per call
        assert len(dict(lens_each(anatomy, rows, budget))) == 7
        assert [s[0] for s in seen] == [6, 6, 6, 3]
        assert all(s[0] * vocab <= budget for s in seen)
        seen.clear()
        ids = torch.randint(5, 500, (2, 9))
        mask, last = torch.ones(2, 9, dtype=torch.long), torch.tensor([8, 4])
        with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
            model_logprobs(lm.model, ids, mask, last)
        seen.clear()
        trajectories(anatomy, cap.states(), last, torch.tensor([1, 2]))
    finally:
        handle.remove()
    # one row per prompt and layer, never [layers, batch, seq, vocab]
    assert sum(s[0] for s in seen) == 2 * (anatomy.num_layers + 1)
    assert all(s[1] == 1 for s in seen)
