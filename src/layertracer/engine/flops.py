"""FLOPs of the model's work, counted from its structure and the prompts' token counts
(docs/performance.md#flop-accounting).

A multiply-add is 2 FLOPs. Per block and token of a prompt of ``T`` tokens:

- the block's matmuls: one multiply-add per element of every parameter of two or more
  dims (linear, ``Conv1D`` and convolution weights; embedding tables excepted); of a
  mixture of experts only the active share, ``top-k / experts`` of the expert container;
- attention: ``4 · heads · head_dim · T`` (scores ``QKᵀ`` and the weighted sum of values,
  each query against all ``T`` keys, as the masked kernels compute them);
- a recurrent scan (state-space or delta rule): :data:`SCAN_FLOPS` per state element.

The unembedding costs ``2 · d · V`` per row where it is applied. Norms, activations,
rotary embeddings and softmaxes are not counted. Blocks are told apart by their modules,
as :mod:`layertracer.model.layer_types` does, never by the model's name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from layertracer.engine.batching import plan_batches
from layertracer.model.anatomy import Anatomy
from layertracer.model.layer_types import module_kind

SCAN_FLOPS = 6  # per state element and token: decay, input and read-out multiply-adds
SCAN_KINDS = {"mamba", "mamba2", "gated_deltanet", "linear_attention", "rwkv", "recurrent"}
# A mixer's state elements per token: the product of the first attribute set it owns.
STATE_SHAPES = (
    ("num_v_heads", "head_k_dim", "head_v_dim"),  # delta rule: a [k, v] state per head
    ("intermediate_size", "ssm_state_size"),  # Mamba / Mamba-2: d_inner × d_state
)
TOP_K_KEYS = ("num_experts_per_tok", "num_experts_per_token", "moe_topk", "moe_top_k", "top_k")
EXPERTS = re.compile(r"Experts$")


@dataclass(frozen=True)
class BlockCost:
    """What one block costs per token.

    Attributes:
        kind: Block type (:func:`layertracer.model.layer_types.classify_block`).
        macs: Multiply-adds per token of its matmuls (active experts only).
        score_width: ``heads · head_dim`` of its attention (0: no attention).
        state: State elements its scan updates per token (0: no scan).
    """

    kind: str
    macs: float
    score_width: int = 0
    state: int = 0

    def flops(self, tokens: int) -> float:
        """FLOPs of one prompt of ``tokens`` tokens through the block. ``>= 0``"""
        scores = 4.0 * self.score_width * tokens * tokens
        return 2.0 * self.macs * tokens + scores + float(SCAN_FLOPS * self.state * tokens)


@dataclass(frozen=True)
class ModelCost:
    """The per-token costs of a model's blocks and of its unembedding.

    Attributes:
        blocks: One cost per block, in call order.
        unembed_macs: Multiply-adds of one unembedded row, ``d · V``.
    """

    blocks: tuple[BlockCost, ...]
    unembed_macs: int

    def per_block(self, tokens: int) -> list[float]:
        """FLOPs of each block for one prompt of ``tokens`` tokens. ``L`` entries"""
        return [block.flops(tokens) for block in self.blocks]

    def forward(self, lengths: Iterable[int]) -> float:
        """FLOPs of the blocks for every prompt (lengths in tokens), all positions."""
        return sum(sum(self.per_block(t)) for t in lengths)

    def unembed(self, rows: int) -> float:
        """FLOPs of unembedding ``rows`` hidden rows."""
        return 2.0 * self.unembed_macs * rows


def suffix_sums(per_block: Sequence[float]) -> list[float]:
    """``out[i]`` = FLOPs of blocks ``i+1..L`` (1-based; a replay from layer state ``i``),
    for ``i`` in ``0..L``. ``L+1`` entries, ``out[L] = 0``"""
    out = [0.0] * (len(per_block) + 1)
    for i in range(len(per_block) - 1, -1, -1):
        out[i] = out[i + 1] + per_block[i]
    return out


def model_cost(model: nn.Module, anatomy: Anatomy) -> ModelCost:
    """The cost model of ``model``, found from its blocks' modules and its config."""
    config: Any = getattr(model, "config", None)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    blocks = tuple(
        block_cost(block, kind, text)
        for block, kind in zip(anatomy.blocks, anatomy.layer_types, strict=True)
    )
    return ModelCost(blocks, anatomy.hidden_size * anatomy.vocab_size)


def block_cost(block: nn.Module, kind: str, config: Any = None) -> BlockCost:
    """The per-token cost of one block (``config``: the model's text config, for the
    attention shape and the experts' top-k when the modules do not say)."""
    containers = _outermost(n for n, m in block.named_modules() if _is_experts(n, m))
    inside = {id(p) for name in containers for p in block.get_submodule(name).parameters()}
    macs = float(
        sum(
            p.numel()
            for m in block.modules()
            if not isinstance(m, nn.Embedding)
            for p in m.parameters(recurse=False)
            if p.dim() >= 2 and id(p) not in inside
        )
    )
    for name in containers:
        macs += _active_macs(block.get_submodule(name), config)
    width = state = 0
    mixers = [(n, m, module_kind(m)) for n, m in block.named_modules() if n]
    for name in _outermost(n for n, _, k in mixers if k is not None):
        module = block.get_submodule(name)
        if module_kind(module) == "attention":
            width += _score_width(module, config)
        elif module_kind(module) in SCAN_KINDS:
            state += _state_size(module)
    return BlockCost(kind, macs, width, state)


def _is_experts(name: str, module: nn.Module) -> bool:
    """An expert container: a class named ``...Experts`` or a module list ``experts``."""
    leaf = name.rsplit(".", 1)[-1]
    return bool(EXPERTS.search(type(module).__name__)) or (
        leaf == "experts" and isinstance(module, nn.ModuleList)
    )


def _outermost(names: Iterable[str]) -> list[str]:
    """The names not nested inside another of them."""
    found: list[str] = []
    for name in sorted(set(names), key=len):
        if not any(name.startswith(outer + ".") for outer in found):
            found.append(name)
    return found


def _active_macs(container: nn.Module, config: Any) -> float:
    """Multiply-adds per token of the experts a token is routed to."""
    total = sum(p.numel() for p in container.parameters() if p.dim() >= 2)
    if isinstance(container, nn.ModuleList):
        experts = len(container)
    else:
        experts = max((p.shape[0] for p in container.parameters() if p.dim() >= 3), default=1)
    sources = (container, config)
    top_k = next(
        (int(v) for s in sources for k in TOP_K_KEYS if isinstance(v := getattr(s, k, None), int)),
        experts,
    )
    return total * min(1.0, top_k / max(1, experts))


def _score_width(module: nn.Module, config: Any) -> int:
    """``heads · head_dim`` of an attention module (its own attributes, else the config)."""
    own = getattr(module, "config", None) or config
    heads = getattr(module, "num_heads", None) or getattr(own, "num_attention_heads", 0)
    head_dim = getattr(module, "head_dim", None) or getattr(own, "head_dim", None)
    if not head_dim and heads:
        head_dim = getattr(own, "hidden_size", 0) // heads
    return int(heads or 0) * int(head_dim or 0)


def _state_size(module: nn.Module) -> int:
    """State elements a scan mixer updates per token (0 when its shape is not known)."""
    for names in STATE_SHAPES:
        values = [getattr(module, n, None) for n in names]
        ints = [v for v in values if isinstance(v, int)]
        if len(ints) == len(values):
            return math.prod(ints)
    return 0


def clean_pass_flops(
    cost: ModelCost, lengths: Sequence[int], batch_size: int, lenses: int = 1
) -> float:
    """FLOPs of the clean lens pass: every block of every prompt, ``lenses`` lens rows per
    layer state at each prompt's last token, and the model's own logits, which a batch
    computes at each of its distinct last positions for every row."""
    rows = lenses * (len(cost.blocks) + 1) * len(lengths)
    for index in plan_batches([[0] * t for t in lengths], batch_size):
        rows += len(index) * len({lengths[n] for n in index})
    return cost.forward(lengths) + cost.unembed(rows)
