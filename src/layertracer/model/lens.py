"""The logit lens: ``log_softmax(T(unembed(final_norm(h_i))))`` in float32
(docs/method.md#logit-lens), or the tuned lens when a translator is given: the same
readout of ``translate(i, h_i)`` (docs/method.md#tuned-lens).

Computed only at the rows that are needed (each prompt's last real token), one layer at
a time, so ``[layers, batch, seq, vocab]`` is never materialised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from layertracer.model.anatomy import Anatomy


def gather_rows(hidden: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Row ``last[b]`` of every sequence. ``[batch, seq, d], [batch] -> [batch, d]``"""
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last.to(hidden.device)]


def lens_logprobs(anatomy: Anatomy, rows: torch.Tensor) -> torch.Tensor:
    """Lens log-probs of hidden rows. ``[n, d] -> [n, vocab]`` float32."""
    logits = anatomy.logits(rows[:, None, :])[:, 0]  # norms see [n, 1, d], like a sequence
    return torch.log_softmax(logits.float(), dim=-1)


LENS_BUDGET = 2**26  # float32 elements of [rows, vocab] per unembedding call (256 MiB)


def lens_each(
    anatomy: Anatomy, rows: list[torch.Tensor], budget: int = LENS_BUDGET
) -> Iterator[tuple[int, torch.Tensor]]:
    """Lens log-probs of several row sets, several per unembedding call.

    Reading the unembedding dominates small calls, so row sets (e.g. one per layer) are
    concatenated up to ``budget`` elements of ``[rows, vocab]``. Row sets may live on
    different devices (blocks spread by a device map); each call's rows meet on the device
    of its first set, and the model's own placement hooks take them on from there.

    Args:
        anatomy: The model's parts.
        rows: Row sets, each ``[n, d]``.
        budget: Max float32 elements of one call's output.

    Yields:
        ``(index, log-probs [n, vocab])`` in order.
    """
    per_call = max(1, budget // max(1, rows[0].shape[0] * anatomy.vocab_size))
    for start in range(0, len(rows), per_call):
        group = rows[start : start + per_call]
        logprobs = lens_logprobs(anatomy, torch.cat([g.to(group[0].device) for g in group]))
        yield from enumerate(torch.split(logprobs, [g.shape[0] for g in group]), start)


@dataclass
class Trajectories:
    """Per-prompt, per-layer lens readouts of one batch.

    Attributes:
        target_prob: Probability of the target token. ``[batch, L+1]``
        top1: Lens argmax token. ``[batch, L+1]``
        topk_ids: The ``k`` most probable tokens. ``[batch, L+1, k]``
        topk_probs: Their probabilities. ``[batch, L+1, k]``
        final_logprobs: Lens log-probs at the last layer. ``[batch, vocab]``
    """

    target_prob: torch.Tensor
    top1: torch.Tensor
    topk_ids: torch.Tensor
    topk_probs: torch.Tensor
    final_logprobs: torch.Tensor


def trajectories(
    anatomy: Anatomy,
    states: list[torch.Tensor],
    last: torch.Tensor,
    targets: torch.Tensor,
    k: int = 5,
    translate: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
) -> Trajectories:
    """Lens readout of every layer state at each prompt's last real token.

    Args:
        anatomy: The model's parts.
        states: ``L+1`` layer states. each ``[batch, seq, d]``
        last: Index of each prompt's last real token. ``[batch]``
        targets: Target token ids. ``[batch]``
        k: How many top tokens to keep per layer.
        translate: ``(layer, rows) -> rows`` applied before the readout (the tuned lens's
            translators); ``None``: the logit lens.
    """
    probs: list[torch.Tensor] = []
    top_p: list[torch.Tensor] = []
    top_i: list[torch.Tensor] = []
    logprobs = None
    rows = [gather_rows(s, last) for s in states]
    if translate is not None:
        rows = [translate(i, r) for i, r in enumerate(rows)]
    for _, logprobs in lens_each(anatomy, rows):
        index = targets.to(logprobs.device)[:, None]  # [batch, 1]
        probs.append(logprobs.gather(1, index)[:, 0].exp())  # [batch]
        top = logprobs.topk(min(k, logprobs.shape[-1]), dim=-1)  # sorted, ties by index
        top_p.append(top.values.exp())
        top_i.append(top.indices)
    if logprobs is None:
        raise ValueError("trajectories need at least one layer state")
    topk_ids = torch.stack(top_i, 1).cpu()
    return Trajectories(
        target_prob=torch.stack(probs, 1).cpu(),
        top1=topk_ids[..., 0],
        topk_ids=topk_ids,
        topk_probs=torch.stack(top_p, 1).cpu(),
        final_logprobs=logprobs,
    )
