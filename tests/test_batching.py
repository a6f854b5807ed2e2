"""Tests for layertracer.engine.batching: right-padded batches that remember each prompt's place."""

from __future__ import annotations

import pytest
import torch

from layertracer.engine.batching import Batch, make_batches, num_batches

PAD = 99

SEQUENCES = [
    [5, 6, 7],
    [1],
    [8, 9, 10, 11, 12],
    [2, 3],
    [4, 4, 4],
    [13, 14],
    [15, 16, 17, 18],
]
TARGETS = [100 + n for n in range(len(SEQUENCES))]


def batches(sequences=SEQUENCES, targets=TARGETS, batch_size: int = 3) -> list[Batch]:
    return list(make_batches(sequences, targets, batch_size, PAD))


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4, 7, 10])
def test_every_prompt_appears_exactly_once(batch_size: int) -> None:
    out = batches(batch_size=batch_size)
    seen = [n for b in out for n in b.index]
    assert sorted(seen) == list(range(len(SEQUENCES)))
    assert all(1 <= b.size <= batch_size for b in out)
    assert len(out) == num_batches(len(SEQUENCES), batch_size)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5])
def test_rows_hold_their_prompt_right_padded(batch_size: int) -> None:
    for b in batches(batch_size=batch_size):
        assert b.input_ids.shape == b.attention_mask.shape == (b.size, b.input_ids.shape[1])
        assert b.input_ids.shape[1] == max(len(SEQUENCES[n]) for n in b.index)
        for row, n in enumerate(b.index):
            seq = SEQUENCES[n]
            assert b.input_ids[row, : len(seq)].tolist() == seq
            assert torch.all(b.input_ids[row, len(seq) :] == PAD)
            assert b.attention_mask[row].tolist() == [1] * len(seq) + [0] * (
                b.input_ids.shape[1] - len(seq)
            )
            assert b.last[row].item() == len(seq) - 1
            assert b.input_ids[row, b.last[row]].item() == seq[-1]
            assert b.targets[row].item() == TARGETS[n]


def test_tensor_types() -> None:
    b = batches()[0]
    assert b.input_ids.dtype == torch.long
    assert b.attention_mask.dtype == torch.long
    assert b.last.dtype == torch.long and b.last.shape == (b.size,)
    assert b.targets.dtype == torch.long and b.targets.shape == (b.size,)
    assert isinstance(b.index, list)


def test_grouped_by_length() -> None:
    out = batches(batch_size=3)
    lengths = [len(SEQUENCES[n]) for b in out for n in b.index]
    assert lengths == sorted(lengths)
    # Equal lengths keep the run's order.
    for b in out:
        for a, c in zip(b.index, b.index[1:], strict=False):
            if len(SEQUENCES[a]) == len(SEQUENCES[c]):
                assert a < c
    assert out[0].index == [1, 3, 5]  # the three shortest prompts together
    assert out[0].input_ids.shape[1] == 2


def test_grouping_reduces_padding() -> None:
    out = batches(batch_size=2)
    padding = sum(int((b.attention_mask == 0).sum()) for b in out)
    # In run order the pairs would be ([5,6,7],[1]), ([8..12],[2,3]), ([4,4,4],[13,14]), ...
    naive = 2 + 3 + 1
    assert padding < naive


def test_equal_lengths_need_no_padding() -> None:
    seqs = [[1, 2], [3, 4], [5, 6]]
    for b in make_batches(seqs, [0, 0, 0], 2, PAD):
        assert torch.all(b.attention_mask == 1)
        assert torch.all(b.last == 1)


def test_pad_id_only_fills_padding() -> None:
    out_a = list(make_batches(SEQUENCES, TARGETS, 3, pad_id=0))
    out_b = list(make_batches(SEQUENCES, TARGETS, 3, pad_id=12345))
    for a, b in zip(out_a, out_b, strict=True):
        assert a.index == b.index
        assert torch.equal(a.attention_mask, b.attention_mask)
        assert torch.equal(a.input_ids[a.attention_mask == 1], b.input_ids[b.attention_mask == 1])


def test_empty_run_yields_no_batches() -> None:
    assert list(make_batches([], [], 4, PAD)) == []
    assert num_batches(0, 4) == 0


@pytest.mark.parametrize(
    ("count", "size", "expected"),
    [(0, 3, 0), (1, 3, 1), (3, 3, 1), (4, 3, 2), (7, 3, 3), (9, 3, 3), (10, 1, 10), (5, 8, 1)],
)
def test_num_batches(count: int, size: int, expected: int) -> None:
    assert num_batches(count, size) == expected
    seqs = [[1] * (n % 4 + 1) for n in range(count)]
    assert len(list(make_batches(seqs, [0] * count, size, PAD))) == expected


def test_device_argument() -> None:
    b = next(make_batches(SEQUENCES, TARGETS, 2, PAD, device="cpu"))
    for t in (b.input_ids, b.attention_mask, b.last, b.targets):
        assert t.device.type == "cpu"


def test_split_keeps_rows_and_width_and_plan_matches_make_batches() -> None:
    from layertracer.engine.batching import plan_batches, split_batch

    whole = batches(batch_size=7)[0]
    parts = split_batch(whole, 3)
    assert [p.size for p in parts] == [3, 3, 1]
    assert [n for p in parts for n in p.index] == whole.index
    assert torch.equal(torch.cat([p.input_ids for p in parts]), whole.input_ids)
    assert torch.equal(torch.cat([p.last for p in parts]), whole.last)
    assert [b.index for b in batches(batch_size=3)] == plan_batches(SEQUENCES, 3)
