"""The layer map of a model (``layertracer inspect``): blocks, kinds, sizes, anatomy."""

from __future__ import annotations

import torch
from rich.table import Table

from layertracer.anatomy import discover
from layertracer.models import LoadedModel


def layer_map(lm: LoadedModel) -> dict:
    """Blocks with index, kind, class and parameter count, plus the discovered anatomy.

    Block ``i`` (1-based) produces layer state ``i``; state 0 is the embedding output.
    """
    with torch.inference_mode():
        anatomy = discover(lm.model, lm.tokenizer)
    blocks = [
        {
            "index": i + 1,
            "type": kind,
            "class": type(block).__name__,
            "parameters": sum(p.numel() for p in block.parameters()),
        }
        for i, (block, kind) in enumerate(zip(anatomy.blocks, anatomy.layer_types, strict=True))
    ]
    return {
        "spec": lm.spec,
        "model_type": lm.model_type,
        "num_layers": anatomy.num_layers,
        "hidden_size": anatomy.hidden_size,
        "blocks_path": anatomy.block_path,
        "residual_slot": anatomy.slot,
        "final_norm": anatomy.final_norm_paths,
        "unembed": anatomy.unembed_path,
        "logit_transform": anatomy.transform.describe(),
        "sites": ["residual"],
        "blocks": blocks,
    }


def layer_map_table(info: dict) -> Table:
    """The layer map as a rich table."""
    table = Table(
        title=(
            f"{info['spec']} ({info['model_type']}): "
            f"L={info['num_layers']}, d={info['hidden_size']}"
        ),
        caption=(
            f"blocks: {info['blocks_path']} · final norm: {', '.join(info['final_norm']) or 'none'}"
            f" · unembed: {info['unembed']} · transform: {info['logit_transform']}"
        ),
    )
    for column in ("layer", "type", "class", "parameters"):
        table.add_column(column)
    table.add_row("0", "embedding", "", "")
    for b in info["blocks"]:
        table.add_row(str(b["index"]), b["type"], b["class"], f"{b['parameters']:,}")
    return table
