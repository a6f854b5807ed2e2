"""Teacher-forced log-prob of the whole answer, per layer (``--full-target``;
docs/method.md#target-token).

For a prompt with tokens ``p`` and answer tokens ``a_1..a_m`` the model reads
``p + a_1..a_{m-1}``; at layer ``i`` the answer's log-prob is
``sum_j lens_i(h at the position before a_j)[a_j]``, the logit lens (float32) at every
answer position. At the last layer this is the model's own teacher-forced log-prob.
Sequences are right padded, so a batch gives the same numbers as one prompt at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from layertracer.model.anatomy import Anatomy
from layertracer.model.lens import lens_each
from layertracer.tasks.encode import Encoded


def answer_inputs(encoded: Sequence[Encoded]) -> tuple[list[tuple[int, ...]], list[int]]:
    """Per prompt, the tokens the model reads (``prompt + answer[:-1]``) and the target
    token, for :func:`layertracer.engine.batching.build_batch`."""
    return [e.input_ids + e.answer_ids[:-1] for e in encoded], [e.target_id for e in encoded]


def answer_positions(
    encoded: Sequence[Encoded], index: Sequence[int]
) -> tuple[list[int], list[int], list[int]]:
    """Flat ``(row in batch, position, answer token)`` for every answer token of a batch."""
    rows, positions, tokens = [], [], []
    for row, n in enumerate(index):
        start = len(encoded[n].input_ids) - 1  # the prompt's last token predicts a_1
        for j, token in enumerate(encoded[n].answer_ids):
            rows.append(row)
            positions.append(start + j)
            tokens.append(token)
    return rows, positions, tokens


def answer_logprobs(
    anatomy: Anatomy,
    states: Sequence[torch.Tensor],
    where: tuple[list[int], list[int], list[int]],
    batch_size: int,
) -> torch.Tensor:
    """Teacher-forced lens log-prob of each row's answer at every layer.

    Args:
        anatomy: The model's parts.
        states: ``L+1`` layer states of the batch. each ``[B, T, d]``
        where: ``(rows, positions, tokens)`` of every answer token (:func:`answer_positions`).
        batch_size: ``B``.

    Returns:
        Sum over the answer tokens of their lens log-probs, in (-inf, 0]. ``[B, L+1]``
    """
    rows, positions, tokens = _indices(where, states[0].device)
    tokens = tokens[:, None]  # [M, 1]
    picked = [state[rows, positions] for state in states]  # L+1 x [M, d]
    out = torch.zeros(batch_size, len(states), dtype=torch.float64)
    for layer, logprobs in lens_each(anatomy, picked):
        per_token = logprobs.gather(1, tokens)[:, 0].double().cpu()  # [M]
        out[:, layer].index_add_(0, rows.cpu(), per_token)
    return out


def model_answer_correct(
    logits: torch.Tensor, where: tuple[list[int], list[int], list[int]], batch_size: int
) -> torch.Tensor:
    """Full-answer correctness per row: the model's top-1 token is the answer token at
    every answer position under teacher forcing, i.e. greedy decoding writes the whole
    answer (docs/method.md#target-token). ``[B]`` bool

    Args:
        logits: The model's output. ``[B, T, vocab]``
        where: As in :func:`answer_logprobs`.
        batch_size: ``B``.
    """
    rows, positions, tokens = _indices(where, logits.device)
    hit = (logits[rows, positions].argmax(dim=-1) == tokens).cpu()  # [M]
    missed = torch.zeros(batch_size, dtype=torch.long).index_add_(0, rows.cpu(), (~hit).long())
    return missed == 0


def model_answer_logprobs(
    logits: torch.Tensor, where: tuple[list[int], list[int], list[int]], batch_size: int
) -> torch.Tensor:
    """The model's own teacher-forced answer log-prob per row, from its logits. ``[B]``

    Args:
        logits: The model's output. ``[B, T, vocab]``
        where: As in :func:`answer_logprobs`.
        batch_size: ``B``.
    """
    rows, positions, tokens = _indices(where, logits.device)
    logprobs = torch.log_softmax(logits[rows, positions].float(), dim=-1)  # [M, vocab]
    per_token = logprobs.gather(1, tokens[:, None])[:, 0].double().cpu()
    return torch.zeros(batch_size, dtype=torch.float64).index_add_(0, rows.cpu(), per_token)


def _indices(
    where: tuple[list[int], list[int], list[int]], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(rows, positions, tokens)`` of :func:`answer_positions` as tensors. ``[M]`` each"""
    rows, positions, tokens = (torch.tensor(part, device=device) for part in where)
    return rows, positions, tokens
