"""Layer ablation: skip block ``i`` (its output = its input) and measure what is lost.

Per prompt and block ``i`` (layer ``i`` = block ``i``, 1-based;
docs/method.md#layer-ablation): the drop in target log-prob ``log P_clean(target) − log
P_ablated(target)`` at the last prompt position (nats; positive when the block helps), and
whether the ablated top-1 token is still the target. Layer 0 has no block: ``None``.
Skipping a block equals zeroing its output projections (attention ``o_proj`` and MLP
``down_proj`` of a Llama block), which is tested.

Computed by suffix replay: the clean state ``i−1`` is replayed as state ``i`` through blocks
``i+1..L`` (:mod:`layertracer.engine.stacked` stacks several layers on the batch). Every batch
first checks that replaying the clean state reproduces the clean output, and otherwise
falls back to hooked full passes in which block ``i`` returns its input.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from layertracer.config import AblationConfig
from layertracer.engine.batching import Batch
from layertracer.engine.replay import ReplayPath, SuffixRunner, full_pass
from layertracer.engine.scan import open_batch
from layertracer.engine.stacked import groups, items_per_replay, replay_from
from layertracer.model.anatomy import Anatomy
from layertracer.model.lens import gather_rows, lens_each
from layertracer.schema.methods import AblationSection


@dataclass
class AblationState:
    """Per-prompt results of the scan and which path computed them.

    Attributes:
        drop: Per prompt (run index), target log-prob drop per layer. ``{n: [L+1]}``
            (``None`` at layer 0)
        correct: Per prompt, whether the ablated top-1 is the target. ``{n: [L+1]}``
        clean_logprob: Per prompt, clean target log-prob.
        clean_correct: Per prompt, whether the clean top-1 is the target.
        replay: The path in use, and why replay was abandoned if it was.
    """

    drop: dict[int, list[float | None]] = field(default_factory=dict)
    correct: dict[int, list[bool | None]] = field(default_factory=dict)
    clean_logprob: dict[int, float] = field(default_factory=dict)
    clean_correct: dict[int, bool] = field(default_factory=dict)
    replay: ReplayPath = field(default_factory=ReplayPath)


class AblationScan:
    """Accumulates the ablation over batches: :meth:`add` per batch, then read :attr:`state`."""

    def __init__(
        self,
        model: nn.Module,
        anatomy: Anatomy,
        cfg: AblationConfig,
        layers_per_replay: int,
        blocked: str | None = None,
    ) -> None:
        """``blocked``: why replay cannot be used on this model (full passes), if so."""
        self.model, self.anatomy, self.cfg = model, anatomy, cfg
        self.stack = layers_per_replay
        self.state = AblationState(replay=ReplayPath.start(cfg.replay, blocked))

    def add(self, batch: Batch, on_layer: Callable[[], None] = lambda: None) -> None:
        """Ablates every block for one batch, calling ``on_layer()`` after each layer."""
        anatomy, L = self.anatomy, self.anatomy.num_layers
        per_group = items_per_replay(batch.size, batch.input_ids.shape[1])
        plan = groups([(i, 0) for i in range(1, L + 1)], self.stack, per_group)
        opening = open_batch(self.model, anatomy, batch, self.state.replay, len(plan[0]))
        states, clean, runner = opening.states, opening.clean, opening.runner
        goal = batch.targets[:, None]  # [B, 1]
        logprob = torch.full((batch.size, L + 1), float("nan"))  # [B, L+1]
        top1_ok = torch.zeros((batch.size, L + 1), dtype=torch.bool)
        for group in plan:
            layers = [i for i, _ in group]
            final = self._final_states(runner, batch, states, layers)  # [F·B, T, d]
            rows = torch.split(gather_rows(final, batch.last.repeat(len(layers))), batch.size)
            for k, out in lens_each(anatomy, list(rows)):  # [B, V] of copy k
                logprob[:, layers[k]] = out.gather(1, goal)[:, 0].cpu()
                top1_ok[:, layers[k]] = (out.argmax(-1) == batch.targets).cpu()
                on_layer()
        self._store(batch, clean, logprob, top1_ok)

    def _store(
        self, batch: Batch, clean: torch.Tensor, logprob: torch.Tensor, top1_ok: torch.Tensor
    ) -> None:
        """Per-prompt rows from the batch's ``[B, L+1]`` ablated log-probs and top-1 hits."""
        clean_lp = clean.gather(1, batch.targets[:, None])[:, 0].cpu()  # [B]
        clean_ok = (clean.argmax(-1) == batch.targets).cpu()
        for row, n in enumerate(batch.index):
            drop = (clean_lp[row] - logprob[row]).tolist()
            self.state.drop[n] = [None, *drop[1:]]
            self.state.correct[n] = [None, *top1_ok[row, 1:].tolist()]
            self.state.clean_logprob[n] = float(clean_lp[row])
            self.state.clean_correct[n] = bool(clean_ok[row])

    def _final_states(
        self, runner: SuffixRunner | None, batch: Batch, states: list[torch.Tensor],
        layers: list[int],
    ) -> torch.Tensor:  # fmt: skip
        """Final states ``[F·B, T, d]`` with block ``layers[k]`` skipped in copy ``k``."""
        if runner is not None:  # skipping block i: state i := state i-1
            return replay_from(runner, layers, lambda k: states[layers[k] - 1], states.__getitem__)
        finals = []
        for layer in layers:  # block `layer` returns its (clean) input
            skip, ids, mask = states[layer - 1], batch.input_ids, batch.attention_mask
            finals.append(
                full_pass(self.model, self.anatomy, ids, mask, layer, functools.partial(_own, skip))
            )
        return torch.cat(finals)


def _own(state: torch.Tensor, _given: torch.Tensor) -> torch.Tensor:
    """``state``, whatever the block was given (a skipped block's output)."""
    return state


def summarize(state: AblationState) -> AblationSection:
    """The ``ablation`` section from the (gathered) per-prompt values of a scan.

    Returns:
        ``target_logprob_drop`` [L+1] (mean over prompts, nats, ``None`` at layer 0),
        ``accuracy_drop`` [L+1] (clean top-1 accuracy − ablated, in [−1, 1]),
        ``ablated_accuracy`` [L+1], ``clean_accuracy``, ``clean_target_logprob``,
        ``critical_layer`` (the block whose skipping costs the most target log-prob) and
        the path that computed them.
    """
    drop, correct = state.drop, state.correct
    order = sorted(drop)
    drops = np.array([[np.nan if v is None else v for v in drop[n]] for n in order])
    hits = np.array([[np.nan if v is None else float(v) for v in correct[n]] for n in order])
    clean_acc = float(np.mean([state.clean_correct[n] for n in order]))
    mean_drop = drops[:, 1:].mean(axis=0)  # [L]
    ablated = hits[:, 1:].mean(axis=0)
    return AblationSection.model_validate(
        {
            "target_logprob_drop": [None, *mean_drop.tolist()],
            "accuracy_drop": [None, *(clean_acc - ablated).tolist()],
            "ablated_accuracy": [None, *ablated.tolist()],
            "clean_accuracy": clean_acc,
            "clean_target_logprob": float(np.mean([state.clean_logprob[n] for n in order])),
            "critical_layer": 1 + int(np.argmax(mean_drop)),
            "prompts": len(order),
            "definition": "block i skipped (output = input); drop = clean − ablated, last token",
            **state.replay.section(),
        }
    )
