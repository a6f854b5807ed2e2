"""The ``state`` site: perturb the recurrent state a block hands to each prompt's last token.

For a block whose cache exposes a recurrent state (Mamba, Mamba-2, Gated DeltaNet layers;
see :func:`sites.state_layers`), the prompt minus its last token runs with a cache, the
state of block ``i`` in a fresh copy of that cache is perturbed, and the last token runs
from it. The state's elements after the batch axis are its ``n`` dims: ``k = round(r·n)``
of them are masked, drawn by ``rng([s, i])`` as in :mod:`perturb`; ``mean``/``gaussian``
use per-element statistics of the clean states over the run's prompts. The ``positions``
option does not apply (the state is read once, by the last token). A one-token prompt has
no state to perturb: its JS is 0. A cache is never reused: each perturbed step gets a copy.

Exactness: stepping the last token from an unperturbed copy must reproduce the model's
own full-forward output (within :data:`STEP_TOLERANCE`), else the site is refused.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from layertracer.batching import Batch
from layertracer.capture import model_logprobs
from layertracer.config import VulnerabilityConfig
from layertracer.errors import ModelError
from layertracer.metrics import js_divergence
from layertracer.perturb import mask_dims, massive_dims, num_masked, seeded_noise
from layertracer.sites import SiteMap, find_cache, recurrent_state
from layertracer.vulnerability import ScanState

STEP_TOLERANCE = 1e-3  # the cache step is the model's own generation path, not replay


def _groups(batch: Batch) -> Iterator[tuple[torch.Tensor, int]]:
    """Rows of equal length: ``(rows, T)`` so that the last token is position ``T-1``."""
    for length in torch.unique(batch.last).tolist():
        yield torch.nonzero(batch.last == length).flatten(), int(length) + 1


class _Stepper:
    """Runs a prefix with a cache, then the last token from (copies of) that cache."""

    def __init__(self, model: nn.Module, ids: torch.Tensor) -> None:
        self.model, self.ids = model, ids  # [b, T]
        with torch.inference_mode():
            out = model(input_ids=ids[:, :-1], attention_mask=torch.ones_like(ids[:, :-1]),
                        use_cache=True)  # fmt: skip
        found = find_cache(out)
        if found is None:
            raise ModelError("--site state: the model returned no cache for the prefix")
        self.key, self.cache = found
        self.position = "cache_position" in inspect.signature(model.forward).parameters

    def state(self, block: int) -> torch.Tensor:
        """Block ``block``'s (0-based) clean state after the prefix. ``[b, ...]``"""
        return recurrent_state(self.cache, block)

    def step(self, block: int | None = None, values: torch.Tensor | None = None) -> torch.Tensor:
        """Log-probs ``[b, V]`` of the last token, with block ``block``'s state replaced."""
        cache = copy.deepcopy(self.cache)
        if block is not None:
            recurrent_state(cache, block).copy_(values)
        kwargs = {self.key: cache, "use_cache": True}
        if self.position:
            kwargs["cache_position"] = torch.tensor([self.ids.shape[1] - 1], device=self.ids.device)
        out = self.model(input_ids=self.ids[:, -1:], attention_mask=torch.ones_like(self.ids),
                         **kwargs)  # fmt: skip
        return torch.log_softmax(out.logits[:, -1].float(), dim=-1)


class StateStats:
    """Per-layer, per-element sums of the clean states over prompts (float64)."""

    def __init__(self) -> None:
        self.count = 0
        self.sums: dict[int, list[torch.Tensor]] = {}

    def add(self, layer: int, state: torch.Tensor) -> None:
        """Adds one group's states ``[b, ...]`` of ``layer`` (``count`` is the caller's)."""
        flat = state.reshape(state.shape[0], -1).double().cpu()
        self._add_sums(layer, [flat.sum(0), (flat * flat).sum(0), flat.abs().sum(0)])

    def _add_sums(self, layer: int, sums: list[torch.Tensor]) -> None:
        old = self.sums.get(layer)
        self.sums[layer] = sums if old is None else [a + b for a, b in zip(old, sums, strict=True)]

    @classmethod
    def merged(cls, parts: list[StateStats]) -> StateStats:
        """The sums of several processes' statistics, added in the given (rank) order."""
        total = cls()
        for part in parts:
            total.count += part.count
            for layer, sums in part.sums.items():
                total._add_sums(layer, sums)
        return total

    def mean(self, layer: int) -> torch.Tensor:
        """Per-element clean mean. ``[n]``"""
        return self.sums[layer][0] / max(self.count, 1)

    def std(self, layer: int) -> torch.Tensor:
        """Per-element population std. ``[n]``"""
        var = self.sums[layer][1] / max(self.count, 1) - self.mean(layer) ** 2
        return var.clamp_min(0).sqrt()

    def massive(self, layer: int, ratio: float) -> list[int]:
        """Elements whose mean ``|s|`` exceeds ``ratio ×`` the median element's."""
        return massive_dims((self.sums[layer][2] / max(self.count, 1))[None], ratio)


def state_stats(model: nn.Module, sites: SiteMap, batches: Iterable[Batch]) -> StateStats:
    """Clean statistics of every exposed state, after each prompt's prefix."""
    stats = StateStats()
    for batch in batches:
        for rows, length in _groups(batch):
            if length < 2:
                continue
            stepper = _Stepper(model, batch.input_ids[rows, :length])
            for layer in sites.layers:
                stats.add(layer, stepper.state(layer - 1))
            stats.count += len(rows)
    return stats


def state_dims(
    cfg: VulnerabilityConfig, sites: SiteMap, stats: StateStats
) -> tuple[list[list[list[int]]], dict[int, list[int]]]:
    """Masked elements ``dims[s][i]`` (none where layer ``i`` has no state) and the massive
    elements of each layer (never masked with ``protect_massive=auto``)."""
    massive = {i: stats.massive(i, cfg.massive_ratio) for i in sites.layers}
    dims = []
    for seed in cfg.seeds:
        per_layer = []
        for i, ok in enumerate(sites.available):
            n = stats.sums[i][0].numel() if ok and i in stats.sums else 0
            exclude = massive.get(i, []) if cfg.protect_massive == "auto" else []
            per_layer.append(
                mask_dims(seed, i, n, num_masked(cfg.mask_ratio, n), exclude) if n else []
            )
        dims.append(per_layer)
    return dims, massive


class StateScan:
    """The vulnerability scan at the ``state`` site: :meth:`add` per batch, then
    :attr:`state` (a :class:`ScanState` like the other sites', path ``cache-step``)."""

    def __init__(
        self,
        model: nn.Module,
        cfg: VulnerabilityConfig,
        sites: SiteMap,
        stats: StateStats,
        dims: list[list[list[int]]],
        massive: dict[int, list[int]],
    ) -> None:
        self.model, self.cfg, self.sites, self.stats, self.dims = model, cfg, sites, stats, dims
        self.massive = massive
        layers = len(sites.available)
        self.state = ScanState(np.zeros((len(cfg.seeds), layers)), path="cache-step")

    def add(self, batch: Batch, on_layer: Callable[[], None] = lambda: None) -> None:
        """Scans every layer with a state for one batch, calling ``on_layer()`` per layer."""
        seeds, layers = len(self.cfg.seeds), len(self.sites.available)
        js = np.full((seeds, batch.size, layers), np.nan)
        js[:, :, self.sites.layers] = 0.0  # one-token prompts keep 0: nothing to perturb
        clean = model_logprobs(self.model, batch.input_ids, batch.attention_mask, batch.last)
        for rows, length in _groups(batch):
            if length >= 2:
                js[:, rows.cpu().numpy(), :] = self._group(batch, rows, length, clean[rows])
        for _ in range(layers):
            on_layer()
        self.state.js_sum += np.nan_to_num(js.sum(axis=1), nan=0.0)
        self.state.count += batch.size
        for row, n in enumerate(batch.index):
            self.state.per_prompt[n] = js[:, row, :]

    def describe(self, section: dict) -> None:
        """Adds what is particular to this site to the ``vulnerability`` section: the
        massive elements of each layer's state and whether each mask hit one."""
        section["positions"] = "state entering the last token"
        section["massive_dims_per_layer"] = {str(i): v for i, v in self.massive.items()}
        section["masked_massive"] = {
            str(seed): [bool(set(self.massive.get(i, [])) & set(d)) for i, d in enumerate(per)]
            for seed, per in zip(self.cfg.seeds, self.dims, strict=True)
        }

    def _group(
        self, batch: Batch, rows: torch.Tensor, length: int, clean: torch.Tensor
    ) -> np.ndarray:
        """JS ``[S, b, L+1]`` of one group of equal-length rows."""
        stepper = _Stepper(self.model, batch.input_ids[rows, :length])
        err = float((stepper.step() - clean).abs().max())
        self.state.replay_max_err = max(self.state.replay_max_err, err)
        if not err <= STEP_TOLERANCE:
            raise ModelError(
                f"--site state: stepping the last token from the cache differs from the full "
                f"forward by {err:.3g} > {STEP_TOLERANCE:g}; this model's state cannot be scanned"
            )
        index = [batch.index[r] for r in rows.tolist()]
        out = np.full((len(self.cfg.seeds), len(rows), len(self.sites.available)), np.nan)
        for layer in self.sites.layers:
            old = stepper.state(layer - 1)
            for s, seed in enumerate(self.cfg.seeds):
                new = self._values(old, layer, seed, s, index)
                out[s, :, layer] = js_divergence(clean, stepper.step(layer - 1, new)).cpu().numpy()
        return out

    def _values(
        self, old: torch.Tensor, layer: int, seed: int, s: int, index: list[int]
    ) -> torch.Tensor:
        """The perturbed state ``[b, ...]`` of ``layer`` under seed ``seed``."""
        flat = old.reshape(old.shape[0], -1).clone()
        dims = torch.tensor(self.dims[s][layer], dtype=torch.long)
        if self.cfg.mask_mode == "zero":
            flat[:, dims] = 0
        elif self.cfg.mask_mode == "mean":
            flat[:, dims] = self.stats.mean(layer)[dims].to(flat)
        else:
            std = self.stats.std(layer)[dims].float()
            noise = [seeded_noise(seed, layer, n, (len(dims),), std) for n in index]
            flat[:, dims] += torch.stack(noise).to(flat)
        return flat.view_as(old)
