"""The removal scan: every pruned model (a set of removed blocks) on every prompt.

Per batch: one clean forward captures the blocks' call arguments; each pruned model is a
suffix replay from the state before its first removed block, in which every removed
block's output equals its input (:func:`layertracer.engine.stacked.replay_skipping`,
several models stacked on the batch dimension). Every batch first checks that replaying
the clean state reproduces the clean output (:class:`ReplayPath`), and otherwise falls back
to hooked full passes in which the removed blocks return their input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from layertracer.engine.batching import Batch
from layertracer.engine.replay import ReplayPath, SuffixRunner, full_pass
from layertracer.engine.scan import open_batch
from layertracer.engine.stacked import items_per_replay, replay_skipping
from layertracer.methods.metrics import kl_divergence
from layertracer.model.anatomy import Anatomy
from layertracer.model.capture import skip_blocks
from layertracer.model.lens import gather_rows, lens_each


@dataclass
class RemovalState:
    """Per-prompt results of the scan, per pruned model ``s`` (index into the sets).

    Attributes:
        logprob: Per prompt (run index), target log-prob of every pruned model. ``{n: [S]}``
        correct: Per prompt, whether each pruned model's top-1 is the target. ``{n: [S]}``
        kl: Per prompt, ``KL(full ‖ pruned)`` in nats at the last position. ``{n: [S]}``
        clean_logprob: Per prompt, the unpruned target log-prob.
        clean_correct: Per prompt, whether the unpruned top-1 is the target.
        replay: The path in use, and why replay was abandoned if it was.
    """

    logprob: dict[int, list[float]] = field(default_factory=dict)
    correct: dict[int, list[bool]] = field(default_factory=dict)
    kl: dict[int, list[float]] = field(default_factory=dict)
    clean_logprob: dict[int, float] = field(default_factory=dict)
    clean_correct: dict[int, bool] = field(default_factory=dict)
    replay: ReplayPath = field(default_factory=ReplayPath)


class RemovalScan:
    """Accumulates the removal scan over batches: :meth:`add` per batch, then :attr:`state`."""

    def __init__(
        self,
        model: nn.Module,
        anatomy: Anatomy,
        sets: Sequence[frozenset[int]],
        sets_per_replay: int,
        replay: ReplayPath,
    ) -> None:
        self.model, self.anatomy, self.stack = model, anatomy, sets_per_replay
        self.sets = list(sets)
        self.state = RemovalState(replay=replay)

    def groups(self, batch: Batch) -> list[list[int]]:
        """The pruned models (indices) replayed together: by first removed block, at most
        ``sets_per_replay`` and the token budget per group."""
        size = max(1, min(self.stack, items_per_replay(batch.size, batch.input_ids.shape[1])))
        order = sorted(range(len(self.sets)), key=lambda s: (min(self.sets[s]), s))
        return [order[start : start + size] for start in range(0, len(order), size)]

    def add(self, batch: Batch, on_group: Callable[[], None] = lambda: None) -> None:
        """Evaluates every pruned model on one batch, calling ``on_group()`` per group."""
        plan = self.groups(batch)
        copies = len(plan[0]) if plan else 0
        opening = open_batch(self.model, self.anatomy, batch, self.state.replay, copies)
        states, clean, runner = opening.states, opening.clean, opening.runner
        rows: list[torch.Tensor] = [torch.empty(0)] * len(self.sets)  # [B, d] per model
        for group in plan:
            final = self._final_states(runner, batch, states, [self.sets[s] for s in group])
            parts = torch.split(gather_rows(final, batch.last.repeat(len(group))), batch.size)
            for s, part in zip(group, parts, strict=True):
                rows[s] = part
            on_group()
        self._store(batch, clean, rows)

    def _store(self, batch: Batch, clean: torch.Tensor, rows: list[torch.Tensor]) -> None:
        """Per-prompt measures of every pruned model from its final rows ``[B, d]``."""
        size, goal = batch.size, batch.targets[:, None]  # [B, 1]
        logprob = torch.zeros((size, len(rows)), dtype=torch.float64)  # [B, S]
        kl = torch.zeros((size, len(rows)), dtype=torch.float64)
        correct = torch.zeros((size, len(rows)), dtype=torch.bool)
        for s, out in lens_each(self.anatomy, rows) if rows else ():  # [B, V] of model s
            out = out.to(clean.device)
            logprob[:, s] = out.gather(1, goal.to(clean.device))[:, 0].double().cpu()
            correct[:, s] = out.argmax(-1).cpu() == batch.targets.cpu()
            kl[:, s] = kl_divergence(clean, out).cpu()
        clean_lp = clean.gather(1, goal.to(clean.device))[:, 0].double().cpu()  # [B]
        clean_ok = clean.argmax(-1).cpu() == batch.targets.cpu()
        for row, n in enumerate(batch.index):
            self.state.logprob[n] = logprob[row].tolist()
            self.state.correct[n] = correct[row].tolist()
            self.state.kl[n] = kl[row].tolist()
            self.state.clean_logprob[n] = float(clean_lp[row])
            self.state.clean_correct[n] = bool(clean_ok[row])

    def _final_states(
        self, runner: SuffixRunner | None, batch: Batch, states: list[torch.Tensor],
        skips: list[frozenset[int]],
    ) -> torch.Tensor:  # fmt: skip
        """Final states ``[F·B, T, d]`` of the pruned models ``skips`` (copy ``k`` in rows
        ``k·B..(k+1)·B``)."""
        if runner is not None:
            return replay_skipping(runner, skips, states.__getitem__)
        anatomy, finals = self.anatomy, []
        for skip in skips:
            with skip_blocks(anatomy.blocks, anatomy.slot, sorted(skip)):
                finals.append(full_pass(self.model, anatomy, batch.input_ids, batch.attention_mask))
        return torch.cat(finals)
