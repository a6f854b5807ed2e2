"""ROME causal tracing: corrupt the subject, restore one clean state, see what comes back.

For a prompt (docs/method.md#causal-tracing): the subject tokens' *embeddings* — the layer-0
state, i.e. what block 1 receives (Gemma, for one, scales its embeddings by √d before that;
we corrupt what the block sees) — get Gaussian noise of scale ``noise_multiplier × σ``,
``σ`` the std of all subject-token embedding values of the task (one scalar, as ROME). Copy
``c`` of ``copies`` draws its noise ``[subject tokens, d]`` from
``numpy.random.default_rng(seed + c)``, the same for every prompt (as ROME reuses one noise
draw). Restoring the clean layer-``i`` state at one position, the indirect effect is
``P_restored(target) − P_corrupted(target)``, each averaged over the copies. The per-layer
summary restores the last subject token; the full map restores every position, for the first
``map_prompts`` prompts. Positions before the subject are not replayed: in a causal model
their corrupted state *is* the clean one, so restoring them changes nothing and their effect
is recorded as exactly 0.

The corrupted run and every restoration are suffix replays of the clean batch's captured
block arguments (copies stacked on the batch, layers stacked by
:mod:`~layertracer.engine.stacked`), checked against the clean output per batch, with hooked
full passes as the fallback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from layertracer.config import TracingConfig
from layertracer.engine.batching import Batch
from layertracer.engine.replay import ReplayPath, SuffixRunner, full_pass
from layertracer.engine.scan import open_batch
from layertracer.engine.stacked import groups, items_per_replay, replay_from
from layertracer.methods.subjects import Span, aligned_map
from layertracer.model.anatomy import Anatomy
from layertracer.model.capture import edit_state
from layertracer.model.lens import gather_rows, lens_each
from layertracer.schema.methods import TracingSection

Item = tuple[int, int]  # (layer, position); position -1: each prompt's last subject token


@dataclass
class TracingState:
    """Per-prompt results and which path computed them.

    Attributes:
        effect: Per prompt (run index), indirect effect per layer at the last subject token.
            ``{n: [L+1]}``
        p_clean: Per prompt, clean target probability.
        p_corrupted: Per prompt, corrupted target probability (mean over copies).
        maps: Per mapped prompt, indirect effect per position and layer. ``{n: [T][L+1]}``
        replay: The path in use, and why replay was abandoned if it was.
    """

    effect: dict[int, list[float]] = field(default_factory=dict)
    p_clean: dict[int, float] = field(default_factory=dict)
    p_corrupted: dict[int, float] = field(default_factory=dict)
    maps: dict[int, list[list[float]]] = field(default_factory=dict)
    replay: ReplayPath = field(default_factory=ReplayPath)


@dataclass
class _Corrupted:
    """One batch, clean and corrupted: what every restoration needs."""

    batch: Batch
    states: list[torch.Tensor]  # clean, L+1 x [B, T, d]
    noise: torch.Tensor  # [C·B, T, d]
    runner: SuffixRunner | None
    corrupted: list[torch.Tensor] | None  # replay only, L+1 x [C·B, T, d]
    p_corrupted: torch.Tensor  # [B], mean over copies


class TracingScan:
    """Causal tracing over batches: :meth:`add` per batch, then read :attr:`state`."""

    def __init__(
        self, model: nn.Module, anatomy: Anatomy, cfg: TracingConfig, scale: float,
        spans: dict[int, Span], layers_per_replay: int, blocked: str | None = None,
    ) -> None:  # fmt: skip
        """``blocked``: why replay cannot be used on this model (full passes), if so."""
        self.model, self.anatomy, self.cfg, self.scale = model, anatomy, cfg, scale
        self.spans, self.stack, self.copies = spans, layers_per_replay, cfg.copies
        self.state = TracingState(replay=ReplayPath.start(cfg.replay, blocked))

    def add(
        self, batch: Batch, on_layer: Callable[[], None] = lambda: None, full_map: bool = False
    ) -> None:
        """Traces one batch: the last subject token (``full_map``: every position) at every
        layer, calling ``on_layer()`` after each layer."""
        run, L = self._corrupt(batch), self.anatomy.num_layers
        if not full_map:
            effect = self._restored(run, [(i, -1) for i in range(L + 1)], on_layer)  # [L+1, B]
            effect = (effect - run.p_corrupted).cpu()
            for row, n in enumerate(batch.index):
                self.state.effect[n] = effect[:, row].tolist()
                self.state.p_corrupted[n] = float(run.p_corrupted[row])
            return
        begin = min(self.spans[n].start for n in batch.index)  # nothing changes before it
        width = batch.input_ids.shape[1] - begin
        items = [(i, begin + t) for i in range(L + 1) for t in range(width)]
        effect = self._restored(run, items, on_layer) - run.p_corrupted  # [I, B]
        effect = effect.view(L + 1, width, batch.size).cpu()
        for row, n in enumerate(batch.index):
            grid = torch.zeros(int(batch.last[row]) + 1, L + 1)  # [T, L+1]
            start = self.spans[n].start
            grid[start:] = effect[:, start - begin : len(grid) - begin, row].T
            self.state.maps[n] = grid.tolist()

    def add_map(self, batch: Batch, on_layer: Callable[[], None], prompts: int | None) -> None:
        """The full layer × position map for the rows of the first ``prompts`` prompts
        (``None``: all), calling ``on_layer()`` once per layer either way."""
        rows = [r for r, n in enumerate(batch.index) if prompts is None or n < prompts]
        if rows:
            self.add(select_rows(batch, rows), on_layer, full_map=True)
        else:
            for _ in range(self.anatomy.num_layers + 1):
                on_layer()

    def _corrupt(self, batch: Batch) -> _Corrupted:
        """The clean capture, the noise, and the corrupted run of one batch."""
        opening = open_batch(self.model, self.anatomy, batch, self.state.replay, self.copies)
        states, clean, runner = opening.states, opening.clean, opening.runner
        for row, n in enumerate(batch.index):
            self.state.p_clean[n] = float(clean[row, batch.targets[row]].exp())
        noise = self._noise(batch, states[0])
        corrupted = None
        if runner is not None:
            corrupted = [states[0].repeat(self.copies, 1, 1) + noise]
            for j in range(self.anatomy.num_layers):
                corrupted.append(runner.step(j, corrupted[-1]))
            final = corrupted[-1]
        else:
            final = self._full(batch, noise, 0, lambda x: x)
        run = _Corrupted(batch, states, noise, runner, corrupted, torch.empty(0))
        run.p_corrupted = self._probs(run, [final])[0]
        return run

    def _noise(self, batch: Batch, state0: torch.Tensor) -> torch.Tensor:
        """``scale ×`` standard normal noise on each prompt's span, copy-major. ``[C·B, T, d]``"""
        noise = torch.zeros(self.copies, *state0.shape)  # [C, B, T, d] float32
        for row, n in enumerate(batch.index):
            span = self.spans[n]
            for c in range(self.copies):
                rng = np.random.default_rng(self.cfg.seed + c)
                draw = rng.standard_normal((span.end - span.start, state0.shape[-1]))
                noise[c, row, span.start : span.end] = torch.from_numpy(draw * self.scale)
        return noise.flatten(0, 1).to(state0.device, state0.dtype)

    def _restored(
        self, run: _Corrupted, items: list[Item], on_layer: Callable[[], None]
    ) -> torch.Tensor:
        """Target probability (mean over copies) with item ``(layer, position)`` restored.
        ``[I, B]``"""
        batch = run.batch
        rows = self.copies * batch.size
        per_group = items_per_replay(rows, batch.input_ids.shape[1])
        out = []
        for group in groups(items, self.stack, per_group):
            if run.runner is not None:
                finals = [self._replay(run, group)]
            else:
                finals = [
                    self._full(batch, run.noise, i, functools.partial(self._restore, run, i, t))
                    for i, t in group
                ]
            out += self._probs(run, finals)
            for _ in range(sum(t == items[-1][1] for _, t in group)):
                on_layer()  # once per layer whose last position is done
        return torch.stack(out)

    def _replay(self, run: _Corrupted, group: list[Item]) -> torch.Tensor:
        """Final states of the group's restorations by suffix replay. ``[K·C·B, T, d]``"""
        runner, corrupted = run.runner, run.corrupted
        if runner is None or corrupted is None:
            raise RuntimeError("suffix replay needs the batch's runner and corrupted states")

        def first(k: int) -> torch.Tensor:
            layer, position = group[k]
            return self._restore(run, layer, position, corrupted[layer])

        return replay_from(runner, [i for i, _ in group], first, corrupted.__getitem__)

    def _restore(self, run: _Corrupted, layer: int, position: int, x: torch.Tensor) -> torch.Tensor:
        """``x`` (corrupted layer state ``[C·B, T, d]``) with the clean state at ``position``
        (``-1``: each prompt's last subject token) put back."""
        batch = run.batch
        if position < 0:
            where = torch.tensor([self.spans[n].last for n in batch.index], device=x.device)
        else:
            where = torch.full((batch.size,), position, device=x.device)
        rows = torch.arange(x.shape[0], device=x.device)
        where = where.repeat(self.copies)
        x = x.clone()
        x[rows, where] = run.states[layer][rows % batch.size, where]
        return x

    def _probs(self, run: _Corrupted, finals: list[torch.Tensor]) -> list[torch.Tensor]:
        """Target probability, averaged over the copies, of each stacked final state's
        copies. ``finals``: ``[K·C·B, T, d]`` each; returns ``[B]`` per copy set."""
        batch, rows = run.batch, self.copies * run.batch.size
        last, goal = batch.last.repeat(self.copies), batch.targets.repeat(self.copies)[:, None]
        sets = [gather_rows(part, last) for f in finals for part in torch.split(f, rows)]
        return [
            lp.gather(1, goal)[:, 0].exp().view(self.copies, batch.size).mean(0)
            for _, lp in lens_each(self.anatomy, sets)
        ]

    def _full(
        self, batch: Batch, noise: torch.Tensor, layer: int,
        edit: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:  # fmt: skip
        """The final state of a hooked full pass: noise on the embeddings, ``edit`` at
        ``layer``. ``[C·B, T, d]``"""
        ids = batch.input_ids.repeat(self.copies, 1)
        mask = batch.attention_mask.repeat(self.copies, 1)
        with edit_state(self.anatomy.blocks, self.anatomy.slot, 0, lambda x: x + noise):
            return full_pass(self.model, self.anatomy, ids, mask, layer, edit)


def select_rows(batch: Batch, rows: list[int]) -> Batch:
    """The batch of rows ``rows`` only (same width)."""
    pick = torch.tensor(rows, device=batch.input_ids.device)
    return Batch(
        input_ids=batch.input_ids[pick],
        attention_mask=batch.attention_mask[pick],
        last=batch.last[pick],
        targets=batch.targets[pick],
        index=[batch.index[r] for r in rows],
    )


def summarize(
    state: TracingState, spans: dict[int, Span], cfg: TracingConfig, std: float
) -> TracingSection:
    """The ``causal_tracing`` section from the per-prompt values (keyed by prompt index).

    ``indirect_effect`` [L+1] is the mean over prompts of ``P_restored − P_corrupted``
    (each in [0, 1], so in [−1, 1]) restoring the last subject token; ``critical_layer`` its
    argmax; ``total_effect = p_clean − p_corrupted``. ``map`` aligns the mapped prompts'
    positions into ROME's categories (:data:`subjects.CATEGORIES`).
    """
    order = sorted(state.effect)
    effect = np.array([state.effect[n] for n in order])  # [N, L+1]
    mean = effect.mean(axis=0)
    p_clean = float(np.mean([state.p_clean[n] for n in order]))
    p_corrupted = float(np.mean([state.p_corrupted[n] for n in order]))
    return TracingSection.model_validate(
        {
            "noise_multiplier": cfg.noise_multiplier,
            "embedding_std": std,
            "noise_scale": cfg.noise_multiplier * std,
            "copies": cfg.copies,
            "seeds": [cfg.seed + c for c in range(cfg.copies)],
            "noise": "numpy.random.default_rng(seed).standard_normal([subject tokens, d]) per copy",
            "restored_position": "last subject token",
            "indirect_effect": mean.tolist(),
            "critical_layer": int(np.argmax(mean)),
            "p_clean": p_clean,
            "p_corrupted": p_corrupted,
            "total_effect": p_clean - p_corrupted,
            "prompts": len(order),
            "subject_found": sum(spans[n].found for n in order),
            "map_prompts": cfg.map_prompts,
            "map": aligned_map(state.maps, spans) if state.maps else None,
            **state.replay.section(),
        }
    )


def prompt_fields(state: TracingState, spans: dict[int, Span], n: int) -> dict[str, Any]:
    """The tracing fields of prompt ``n``'s row: ``tracing_effect`` [L+1],
    ``tracing_p_corrupted``, ``tracing_subject_span`` [start, end), ``tracing_subject_found``
    and, for a mapped prompt, ``tracing_map`` [T][L+1] (position-major)."""
    row = {
        "tracing_effect": state.effect[n],
        "tracing_p_corrupted": state.p_corrupted[n],
        "tracing_subject_span": [spans[n].start, spans[n].end],
        "tracing_subject_found": spans[n].found,
    }
    if n in state.maps:
        row["tracing_map"] = state.maps[n]
    return row
