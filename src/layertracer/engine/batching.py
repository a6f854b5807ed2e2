"""Right-padded batches that remember each prompt's place in the run.

Prompts are grouped by length (less padding), padded on the right, and each row's last
real token is gathered; with a causal model the padding cannot change a real position's
output, so a batch gives the same numbers as one prompt at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """One batch of prompts.

    Attributes:
        input_ids: Token ids, right padded. ``[B, T]``
        attention_mask: 1 on real tokens. ``[B, T]``
        last: Position of each row's last real token. ``[B]``
        targets: Target token id per row. ``[B]``
        index: Each row's index in the run's prompt list.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    last: torch.Tensor
    targets: torch.Tensor
    index: list[int]

    @property
    def size(self) -> int:
        """Number of prompts ``B``."""
        return len(self.index)


def make_batches(
    sequences: Sequence[Sequence[int]],
    targets: Sequence[int],
    batch_size: int,
    pad_id: int,
    device: torch.device | str = "cpu",
) -> Iterator[Batch]:
    """Yields right-padded batches of up to ``batch_size`` prompts, grouped by length.

    Args:
        sequences: Prompt token ids, one sequence per prompt.
        targets: Target token id per prompt.
        batch_size: Prompts per batch.
        pad_id: Id used for padding (its value cannot matter: padding is masked and after).
        device: Where the tensors go.
    """
    for index in plan_batches(sequences, batch_size):
        yield build_batch(sequences, targets, index, pad_id, device)


def plan_batches(sequences: Sequence[Sequence[int]], batch_size: int) -> list[list[int]]:
    """The prompt indices of every batch: prompts sorted by length (stable), then cut."""
    order = sorted(range(len(sequences)), key=lambda n: (len(sequences[n]), n))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def build_batch(
    sequences: Sequence[Sequence[int]],
    targets: Sequence[int],
    index: list[int],
    pad_id: int,
    device: torch.device | str = "cpu",
) -> Batch:
    """The right-padded batch of prompts ``index`` (pinned, asynchronous copy to a GPU)."""
    width = max(len(sequences[n]) for n in index)
    ids = torch.full((len(index), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(index), width), dtype=torch.long)
    for row, n in enumerate(index):
        ids[row, : len(sequences[n])] = torch.tensor(sequences[n], dtype=torch.long)
        mask[row, : len(sequences[n])] = 1
    last = mask.sum(1) - 1
    goal = torch.tensor([targets[n] for n in index], dtype=torch.long)
    ids, mask, last, goal = (_to(t, torch.device(device)) for t in (ids, mask, last, goal))
    return Batch(input_ids=ids, attention_mask=mask, last=last, targets=goal, index=list(index))


def _to(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host-to-device copy; from pinned memory and without a host sync to a GPU."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def split_batch(batch: Batch, size: int) -> list[Batch]:
    """Consecutive parts of at most ``size`` rows (same width: the numbers do not change)."""
    parts = []
    for start in range(0, batch.size, size):
        rows = slice(start, start + size)
        parts.append(
            Batch(
                input_ids=batch.input_ids[rows],
                attention_mask=batch.attention_mask[rows],
                last=batch.last[rows],
                targets=batch.targets[rows],
                index=batch.index[rows],
            )
        )
    return parts


def num_batches(count: int, batch_size: int) -> int:
    """How many batches ``make_batches`` yields for ``count`` prompts."""
    return (count + batch_size - 1) // batch_size


def first_prompt(batch: Batch) -> Batch:
    """The batch's first prompt alone, without padding."""
    width = int(batch.last[0]) + 1
    return Batch(
        batch.input_ids[:1, :width], batch.attention_mask[:1, :width], batch.last[:1],
        batch.targets[:1], batch.index[:1],
    )  # fmt: skip
