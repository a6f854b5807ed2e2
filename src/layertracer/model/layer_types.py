"""Name each block's kind (attention, mamba, gated_deltanet, ...) from its sub-modules.

A data table of class-name patterns, optionally confirmed by a parameter the mixer must
own (``A_log`` for state-space mixers), matched against the modules inside a block; no
model names. A block holding two mixer kinds (Falcon-H1) is ``hybrid-parallel``.
"""

from __future__ import annotations

import re

from torch import nn

# (pattern on a sub-module's class name, parameter it must own directly or None, kind).
# The first matching row decides a module's kind; order matters (DeltaNet before Attention).
MIXER_TABLE: tuple[tuple[str, str | None, str], ...] = (
    (r"DeltaNet", None, "gated_deltanet"),
    (r"Mamba|Mixer", "dt_bias", "mamba2"),  # mamba2-style heads carry a dt bias
    (r"Mamba|Mixer", "A_log", "mamba"),
    (r"LinearAttention|LinearAttn|Lightning", None, "linear_attention"),
    (r"^Rwkv|^RWKV", None, "rwkv"),
    (r"RecurrentBlock|Rglru|RGLRU|LSTM", None, "recurrent"),
    (r"ShortConv", None, "conv"),
    (r"Attention|Attn|MLA$", None, "attention"),  # MLA: multi-head latent attention
)
MOE_PATTERN = r"Moe|MoE|Experts|BlockSparseTop2"
MLP_PATTERN = r"MLP|Mlp|FeedForward|FFN"  # a block with no mixer: an MLP-only block
# A feed-forward module itself (MLP or MoE layer): unlike MOE_PATTERN, "Qwen3MoeRMSNorm"
# or "Qwen3MoeAttention" (model-family prefixes) do not match.
FEED_FORWARD_PATTERN = MLP_PATTERN + r"|(MoE|Moe)(Block|Layer)?$|Experts$|BlockSparseTop2"


def module_kind(module: nn.Module) -> str | None:
    """The mixer kind of one module by its class name (first row of MIXER_TABLE), or None."""
    name = type(module).__name__
    own = dict(module.named_parameters(recurse=False))
    for pattern, param, kind in MIXER_TABLE:
        if re.search(pattern, name) and (param is None or param in own):
            return kind
    return None


def classify_block(block: nn.Module) -> str:
    """The kind of one block, e.g. ``attention``, ``mamba``, ``attention+moe``.

    Returns ``mlp`` or ``moe`` for a block with a feed-forward part but no mixer, and
    ``unknown`` when nothing matches.
    """
    kinds: list[str] = []
    moe = mlp = False
    for module in list(block.modules())[1:]:  # the block's own class name says little
        name = type(module).__name__
        moe = moe or bool(re.search(MOE_PATTERN, name))
        mlp = mlp or bool(re.search(MLP_PATTERN, name))
        kind = module_kind(module)
        if kind is not None and kind not in kinds:
            kinds.append(kind)
    if not kinds:  # no mixer: a feed-forward-only block (nemotron_h) or none we know
        return "moe" if moe else ("mlp" if mlp else "unknown")
    base = "hybrid-parallel" if len(kinds) > 1 else kinds[0]
    return f"{base}+moe" if moe else base


def classify_blocks(blocks: list[nn.Module]) -> list[str]:
    """The kind of every block, in order."""
    return [classify_block(b) for b in blocks]
