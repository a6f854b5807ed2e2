"""Perturbing a layer state: which dims, how, and the clean statistics it needs (DESIGN §1).

Dims of layer ``i`` under seed ``s``: ``k = round(r·d)`` dims drawn without replacement by
``numpy.random.default_rng([s, i])`` from the allowed channels, sorted; the same dims for
every prompt of the run. Modes: ``zero`` sets them to 0; ``mean`` to the per-dim clean mean;
``gaussian`` adds noise with the per-dim clean std (the noise of prompt ``n`` is drawn from
``default_rng([s, i, n])``, so it does not depend on batching).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from layertracer.config import VulnerabilityConfig


def num_masked(ratio: float, d: int) -> int:
    """``k = round(r·d)`` (half up), at least 1."""
    return max(1, math.floor(ratio * d + 0.5))


def mask_dims(seed: int, layer: int, d: int, k: int, exclude: Sequence[int] = ()) -> list[int]:
    """The ``k`` masked dims of ``(seed, layer)``, drawn from channels not in ``exclude``."""
    banned = set(exclude)
    pool = np.array([c for c in range(d) if c not in banned], dtype=np.int64)
    rng = np.random.default_rng([seed, layer])
    chosen = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
    return sorted(int(c) for c in pool[chosen])


class ActivationStats:
    """Running per-layer, per-channel sums over the run's real (non-pad) tokens."""

    def __init__(self) -> None:
        self.count = 0
        self.sum: torch.Tensor | None = None  # [L+1, d] float64
        self.sumsq: torch.Tensor | None = None
        self.sumabs: torch.Tensor | None = None

    def update(self, states: list[torch.Tensor], mask: torch.Tensor) -> None:
        """Adds one batch. states: ``L+1`` x ``[batch, seq, d]``; mask: ``[batch, seq]``."""
        real = mask.bool().to(states[0].device)
        d = states[0].shape[-1]  # extra stream axes (hyper-connections) count as tokens
        rows = torch.stack([s[real].reshape(-1, d).double() for s in states])  # [L+1, n, d]
        add = (rows.sum(1), (rows * rows).sum(1), rows.abs().sum(1))
        if self.sum is None:
            self.sum, self.sumsq, self.sumabs = (t.cpu() for t in add)
        else:
            self.sum += add[0].cpu()
            self.sumsq += add[1].cpu()
            self.sumabs += add[2].cpu()
        self.count += rows.shape[1]

    def mean(self) -> torch.Tensor:
        """Per-layer, per-dim mean. ``[L+1, d]``"""
        return self.sum / self.count

    def std(self) -> torch.Tensor:
        """Per-layer, per-dim population std. ``[L+1, d]``"""
        return (self.sumsq / self.count - self.mean() ** 2).clamp_min(0).sqrt()

    def mean_abs(self) -> torch.Tensor:
        """Per-layer, per-dim mean ``|h|``. ``[L+1, d]``"""
        return self.sumabs / self.count

    def add(self, states: list[torch.Tensor], mask: torch.Tensor) -> None:
        """Like :meth:`update`, but each layer's sums stay on that layer's device (no host
        sync, no ``[L+1, n, d]`` copy; blocks may live on several devices) until
        :meth:`finish`. Retry-safe: nothing changes if a step of it runs out of memory."""
        d = states[0].shape[-1]
        sums = []
        for s in states:  # s: [batch, seq, (streams,) d]
            h = s.reshape(*s.shape[:2], -1, d)  # [B, T, streams, d]
            real = mask.bool().to(s.device)[:, :, None, None]  # [B, T, 1, 1]
            h = torch.where(real, h.double(), 0.0)
            axes = (0, 1, 2)
            sums.append(torch.stack([h.sum(axes), (h * h).sum(axes), h.abs().sum(axes)]))
        tokens = mask.bool().sum() * (states[0].numel() // (mask.numel() * d))
        pending = getattr(self, "_pending", None)
        if pending is not None:
            sums = [a + b.to(a.device) for a, b in zip(pending[0], sums, strict=True)]
            tokens = pending[1] + tokens.to(pending[1].device)
        self._pending = (sums, tokens)

    def finish(self) -> ActivationStats:
        """Moves the sums of :meth:`add` into ``sum``/``sumsq``/``sumabs`` (CPU, float64)."""
        pending = getattr(self, "_pending", None)
        if pending is not None:
            total = torch.stack([p.cpu() for p in pending[0]], dim=1)  # [3, L+1, d]
            self.merge_sums(int(pending[1]), total[0], total[1], total[2])
            self._pending = None
        return self

    @classmethod
    def merged(cls, parts: Sequence[ActivationStats]) -> ActivationStats:
        """A new set holding the sums of ``parts`` (finished), added in the given order."""
        total = cls()
        for part in parts:
            total.merge(part)
        return total

    def merge(self, other: ActivationStats) -> ActivationStats:
        """Adds another (finished) set of sums, e.g. another process's. Returns ``self``."""
        if other.sum is not None:
            self.merge_sums(other.count, other.sum, other.sumsq, other.sumabs)
        return self

    def merge_sums(
        self, count: int, total: torch.Tensor, sumsq: torch.Tensor, sumabs: torch.Tensor
    ) -> None:
        """Adds per-layer, per-dim sums over ``count`` more tokens. each ``[L+1, d]``"""
        if self.sum is None:
            self.sum, self.sumsq, self.sumabs = total.clone(), sumsq.clone(), sumabs.clone()
        else:
            self.sum += total
            self.sumsq += sumsq
            self.sumabs += sumabs
        self.count += count


def massive_dims(mean_abs: torch.Tensor, ratio: float) -> list[int]:
    """Channels whose mean ``|h|`` exceeds ``ratio ×`` the median channel's at some layer."""
    median = mean_abs.median(dim=1, keepdim=True).values  # [L+1, 1]
    hit = (mean_abs > ratio * median).any(dim=0)
    return [int(c) for c in torch.nonzero(hit).flatten()]


@dataclass(frozen=True)
class MaskPlan:
    """The dims masked for every ``(seed, layer)`` and the clean statistics modes need.

    Attributes:
        dims: ``dims[s][i]`` masked dims for seed index ``s``, layer ``i``.
        mean: Per-layer, per-dim clean mean (``mean`` mode). ``[L+1, d]``
        std: Per-layer, per-dim clean std (``gaussian`` mode). ``[L+1, d]``
    """

    seeds: tuple[int, ...]
    dims: list[list[list[int]]]
    mean: torch.Tensor
    std: torch.Tensor


def plan_masks(
    cfg: VulnerabilityConfig,
    stats: ActivationStats,
    num_layers: int,
    d: int,
    massive: Sequence[int],
) -> MaskPlan:
    """Draws every ``(seed, layer)`` mask; ``protect_massive=auto`` excludes massive channels."""
    k = num_masked(cfg.mask_ratio, d)
    exclude = massive if cfg.protect_massive == "auto" else ()
    dims = [[mask_dims(s, i, d, k, exclude) for i in range(num_layers + 1)] for s in cfg.seeds]
    return MaskPlan(cfg.seeds, dims, stats.mean().float(), stats.std().float())


def perturb(
    state: torch.Tensor,
    layer: int,
    plan: MaskPlan,
    cfg: VulnerabilityConfig,
    last: torch.Tensor,
    prompt_index: Sequence[int],
) -> torch.Tensor:
    """The state perturbed under every seed, seeds stacked: ``[B, T, d] -> [S·B, T, d]``.

    Extra axes between the sequence and the channels (hyper-connection streams,
    ``[B, T, streams, d]``) are perturbed alike in every stream.

    Args:
        state: Clean layer state of one batch.
        layer: Its layer index ``i``.
        plan: Masks and statistics.
        cfg: Mode and positions.
        last: Each prompt's last real position. ``[B]``
        prompt_index: Each row's index in the run (for batch-independent noise).
    """
    rows = _position_mask(state, cfg.positions, last)  # [B, T]
    rows = rows.view(*rows.shape, *([1] * (state.dim() - 2)))  # [B, T, 1, ...] bool
    out = []
    for s_index, seed in enumerate(plan.seeds):
        dims = torch.tensor(plan.dims[s_index][layer], device=state.device)
        h = state.clone()
        old = h[..., dims]  # [B, T, ..., k]
        new = _masked_values(old, dims, layer, seed, plan, cfg.mask_mode, prompt_index)
        h[..., dims] = torch.where(rows, new, old)
        out.append(h)
    return torch.cat(out, dim=0)


def _position_mask(state: torch.Tensor, positions: str, last: torch.Tensor) -> torch.Tensor:
    batch, seq = state.shape[:2]
    if positions == "all":
        return torch.ones(batch, seq, dtype=torch.bool, device=state.device)
    rows = torch.zeros(batch, seq, dtype=torch.bool, device=state.device)
    rows[torch.arange(batch), last.to(state.device)] = True
    return rows


def _masked_values(
    values: torch.Tensor,
    dims: torch.Tensor,
    layer: int,
    seed: int,
    plan: MaskPlan,
    mode: str,
    prompt_index: Sequence[int],
) -> torch.Tensor:
    """Replacement values of the masked dims. ``[B, T, ..., k]``"""
    if mode == "zero":
        return torch.zeros_like(values)
    if mode == "mean":
        return plan.mean[layer, dims.cpu()].to(values).expand_as(values)
    std = plan.std[layer, dims.cpu()]
    noise = [seeded_noise(seed, layer, n, values.shape[1:], std) for n in prompt_index]
    return values + torch.stack(noise).to(values)


def seeded_noise(
    seed: int, layer: int, prompt: int, shape: tuple[int, ...], std: torch.Tensor
) -> torch.Tensor:
    """Noise ``std × N(0, 1)`` of ``shape`` (e.g. ``[T, ..., k]``) for one prompt, from
    ``rng([seed, layer, prompt])``; drawn position-major, so a longer padded
    sequence only appends draws and the real positions' noise does not change."""
    rng = np.random.default_rng([seed, layer, prompt])
    return torch.from_numpy(rng.standard_normal(tuple(shape))).float() * std
