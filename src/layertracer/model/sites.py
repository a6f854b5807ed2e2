"""Perturbation sites of the vulnerability scan, found by structure (docs/method.md#sites).

- ``residual``: layer state ``i`` (every layer, 0..L).
- ``mixer``: the output of block ``i``'s token mixer (attention, SSM, DeltaNet, RWKV time
  mix, ...) before any post-norm and the residual add. Both mixers of a parallel hybrid
  block (Falcon-H1) are perturbed alike.
- ``mlp``: the output of block ``i``'s feed-forward part (MLP or MoE).
- ``state``: the recurrent state a block's mixer hands to the next token, where the model
  exposes it in its cache (``recurrent_states`` of Mamba, Mamba-2, Gated DeltaNet layers).

A mixer or MLP site is a sub-module of a block whose class name matches the tables of
:mod:`~layertracer.model.layer_types` (see :func:`candidates`), kept only if a probe forward
shows it runs once per block call and returns a ``[B, T, d]`` tensor; a candidate that never
runs (the cross-attention of a decoder used without an encoder) is left out. Layer 0 (the embedding)
and blocks without the site are ``None`` in every per-layer array.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from layertracer.config import SITES
from layertracer.errors import ConfigError
from layertracer.model.anatomy import Anatomy
from layertracer.model.capture import first_tensor, forward, hooks_removed
from layertracer.model.layer_types import FEED_FORWARD_PATTERN, module_kind
from layertracer.model.load import LoadedModel


@dataclass(frozen=True)
class SiteMap:
    """Where one site lives in every layer.

    Attributes:
        site: One of :data:`SITES`.
        modules: Per layer ``0..L``, the modules whose outputs are perturbed (module sites;
            empty where the layer has none, always empty at layer 0 and for other sites).
        available: Per layer ``0..L``, whether the layer has the site.
    """

    site: str
    modules: list[list[nn.Module]]
    available: list[bool]

    @property
    def layers(self) -> list[int]:
        """The layers that have the site."""
        return [i for i, ok in enumerate(self.available) if ok]


def _is_site(module: nn.Module, site: str) -> bool:
    feed_forward = bool(re.search(FEED_FORWARD_PATTERN, type(module).__name__))
    if site == "mixer":  # RWKV's channel mix is named like its time mix: it is the MLP
        return module_kind(module) is not None and not feed_forward
    return feed_forward


def candidates(block: nn.Module, site: str) -> list[nn.Module]:
    """The sub-modules of ``block`` that match ``site`` (``mixer`` or ``mlp``).

    MLPs: the outermost matches (an MoE layer, not its experts; none inside a mixer).
    Mixers: the innermost matches (the attention inside a wrapper that also holds norms
    and the residual add, as DBRX's ``NormAttentionNorm``).
    """
    found: list[nn.Module] = []

    def visit(module: nn.Module) -> None:
        for child in module.children():
            if site == "mlp" and _is_site(child, site):
                found.append(child)
            elif site == "mixer" and _is_site(child, site):
                inner = candidates(child, site)
                found.extend(inner or [child])
            elif not (site == "mlp" and module_kind(child) is not None):
                visit(child)

    visit(block)
    return found


def module_sites(
    model: nn.Module, anatomy: Anatomy, tokenizer: Any, site: str
) -> list[list[nn.Module]]:
    """Per layer ``0..L``, the checked modules of a mixer or MLP site (see module doc)."""
    per_block = [candidates(b, site) for b in anatomy.blocks]
    calls: dict[int, list[torch.Tensor | None]] = {}
    with hooks_removed() as handles:
        for module in {id(m): m for ms in per_block for m in ms}.values():
            handles.append(
                module.register_forward_hook(
                    lambda m, _a, out: calls.setdefault(id(m), []).append(first_tensor(out))
                )
            )
        ids = torch.tensor([tokenizer("The quick brown fox")["input_ids"]])
        device = next(model.parameters()).device
        with torch.inference_mode():
            forward(model, ids.to(device), torch.ones_like(ids).to(device))
    shape = (1, ids.shape[1], anatomy.hidden_size)

    def ok(m: nn.Module) -> bool:
        outs = calls.get(id(m), [])
        return len(outs) == 1 and outs[0] is not None and tuple(outs[0].shape) == shape

    ran = [[m for m in ms if id(m) in calls] for ms in per_block]  # e.g. no cross-attention
    return [[]] + [ms if ms and all(ok(m) for m in ms) else [] for ms in ran]


def find_cache(output: object) -> tuple[str, object] | None:
    """The cache a model returned with ``use_cache=True``, and its keyword name, if any."""
    from transformers.cache_utils import Cache

    for key in ("past_key_values", "cache_params"):
        value = getattr(output, key, None)
        if isinstance(value, Cache):
            return key, value
    return None


def recurrent_state(cache: object, block: int) -> torch.Tensor | None:
    """Block ``block``'s (0-based) recurrent state in a cache, ``[B, ...]``, if it has one."""
    layers = getattr(cache, "layers", None)
    if layers is None or block >= len(layers):
        return None
    states = getattr(layers[block], "recurrent_states", None)
    value = states.get(0) if isinstance(states, dict) else None
    return value if isinstance(value, torch.Tensor) else None


def state_layers(model: nn.Module, anatomy: Anatomy, tokenizer: Any) -> list[bool]:
    """Per layer ``0..L``, whether block ``i`` exposes a recurrent state in the cache."""
    ids = torch.tensor([tokenizer("The quick brown fox")["input_ids"]])
    ids = ids.to(next(model.parameters()).device)
    try:
        with torch.inference_mode():
            output = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True)
    except (TypeError, ValueError, RuntimeError):
        return [False] * (anatomy.num_layers + 1)
    found = find_cache(output)
    cache = found[1] if found else None
    return [False] + [recurrent_state(cache, j) is not None for j in range(anatomy.num_layers)]


def site_map(model: nn.Module, anatomy: Anatomy, tokenizer: Any, site: str) -> SiteMap:
    """Where ``site`` lives in each layer of ``model``."""
    L = anatomy.num_layers
    if site == "residual":
        return SiteMap(site, [[] for _ in range(L + 1)], [True] * (L + 1))
    if site == "state":
        return SiteMap(site, [[] for _ in range(L + 1)], state_layers(model, anatomy, tokenizer))
    modules = module_sites(model, anatomy, tokenizer, site)
    return SiteMap(site, modules, [bool(ms) for ms in modules])


def require_site(lm: LoadedModel, anatomy: Anatomy, site: str) -> SiteMap:
    """The site map of ``site``, which at least one layer must have.

    Raises:
        ConfigError: No layer of the model has the site.
    """
    sites = site_map(lm.model, anatomy, lm.tokenizer, site)
    if not sites.layers:
        raise ConfigError(
            f"--site {site}: no block of model type {lm.model_type!r} exposes it "
            f"(see `layertracer inspect`)"
        )
    return sites


def block_sites(model: nn.Module, anatomy: Anatomy, tokenizer: Any) -> list[list[str]]:
    """Per block (``L`` entries), the sites it offers, in :data:`SITES` order."""
    maps = [site_map(model, anatomy, tokenizer, site) for site in SITES]
    return [[m.site for m in maps if m.available[i]] for i in range(1, anatomy.num_layers + 1)]
