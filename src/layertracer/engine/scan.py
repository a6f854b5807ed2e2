"""The opening every scan shares (docs/method.md#replay): per batch one clean forward that
captures every block's state (and, while replay is in use, its call arguments), the clean
lens log-probs at each prompt's last token, and the suffix runner of :class:`ReplayPath`
(``None``: hooked full passes); and the one rule of how many copies a replay stacks.

Used by the ablation, causal-tracing, vulnerability and removal scans.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from layertracer.engine.batching import Batch
from layertracer.engine.replay import ReplayPath, SuffixRunner
from layertracer.model.anatomy import Anatomy
from layertracer.model.capture import capture_blocks, forward
from layertracer.model.lens import gather_rows, lens_logprobs


@dataclass
class Opening:
    """A batch's clean pass, as every scan starts it.

    Attributes:
        states: The clean layer states. ``L+1 × [B, T, d]``
        clean: The clean lens log-probs at each row's last real token. ``[B, V]``
        runner: The suffix runner for ``copies`` stacked copies, or ``None`` (full passes:
            replay off, blocked or no longer exact; or no copies asked for).
    """

    states: list[torch.Tensor]
    clean: torch.Tensor
    runner: SuffixRunner | None


def open_batch(
    model: nn.Module, anatomy: Anatomy, batch: Batch, path: ReplayPath, copies: int
) -> Opening:
    """The clean forward of ``batch``, its lens log-probs and the runner of ``path`` for
    ``copies`` stacked copies (``0``: no runner; the exactness check of
    :meth:`ReplayPath.runner` runs here, and may switch ``path`` to full passes).

    Raises:
        torch.OutOfMemoryError: The forward or the check ran out of memory (halve the batch).
    """
    replay = path.path == "replay"
    with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=replay) as cap:
        forward(model, batch.input_ids, batch.attention_mask, keep=batch.last[:1])
    states = cap.states()  # L+1 x [B, T, d]
    clean = lens_logprobs(anatomy, gather_rows(states[-1], batch.last))  # [B, V]
    runner = path.runner(anatomy, cap, clean, batch.last, copies) if copies else None
    return Opening(states, clean, runner)


def per_replay(setting: int | None, device: torch.device, most: int) -> int:
    """Copies (layers, pruned models) stacked on the batch of one replay: the setting,
    else 1 on a CPU (a bigger batch is not faster there) and all ``most`` elsewhere."""
    if setting is not None:
        return setting
    return 1 if device.type == "cpu" else max(1, most)
