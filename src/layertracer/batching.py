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
    order = sorted(range(len(sequences)), key=lambda n: (len(sequences[n]), n))
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        width = max(len(sequences[n]) for n in index)
        ids = torch.full((len(index), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(index), width), dtype=torch.long)
        for row, n in enumerate(index):
            ids[row, : len(sequences[n])] = torch.tensor(sequences[n], dtype=torch.long)
            mask[row, : len(sequences[n])] = 1
        yield Batch(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            last=(mask.sum(1) - 1).to(device),
            targets=torch.tensor([targets[n] for n in index], dtype=torch.long, device=device),
            index=list(index),
        )


def num_batches(count: int, batch_size: int) -> int:
    """How many batches ``make_batches`` yields for ``count`` prompts."""
    return (count + batch_size - 1) // batch_size
