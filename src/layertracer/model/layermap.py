"""The layer map of a model (``layertracer inspect``): blocks, kinds, sizes, anatomy."""

from __future__ import annotations

from typing import Any, TypedDict

import torch
from rich.table import Table

from layertracer.config import SITES, AnatomyOverrides
from layertracer.model.anatomy import discover
from layertracer.model.load import LoadedModel
from layertracer.model.sites import block_sites

BlockInfo = TypedDict(
    "BlockInfo", {"index": int, "type": str, "sites": list[str], "class": str, "parameters": int}
)  # one block of the layer map ("class" is a keyword: functional syntax)


def layer_map(lm: LoadedModel, overrides: AnatomyOverrides | None = None) -> dict[str, Any]:
    """Blocks with index, kind, sites, class and parameter count, plus the anatomy.

    Block ``i`` (1-based) produces layer state ``i``; state 0 is the embedding output.
    ``sites`` lists the perturbation sites (``--site``) each block offers.
    """
    with torch.inference_mode():
        anatomy = discover(lm.model, lm.tokenizer, overrides)
    sites = block_sites(lm.model, anatomy, lm.tokenizer)
    blocks: list[BlockInfo] = [
        {
            "index": i + 1,
            "type": kind,
            "sites": sites[i],
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
        "sites": [site for site in SITES if any(site in b["sites"] for b in blocks)],
        "blocks": blocks,
    }


def layer_map_table(info: dict[str, Any]) -> Table:
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
    for column in ("layer", "type", "sites", "class", "parameters"):
        table.add_column(column)
    table.add_row("0", "embedding", "residual", "", "")
    for b in info["blocks"]:
        sites = " ".join(b["sites"])
        table.add_row(str(b["index"]), b["type"], sites, b["class"], f"{b['parameters']:,}")
    return table
