"""What a model can take, checked before any forward: its context length and the memory a
run's batches will need (docs/decisions.md#context-and-memory)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from layertracer.model.hf import as_hf

CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "n_ctx",
    "seq_length",
    "max_sequence_length",
)


def context_length(model: nn.Module, layer_types: list[str]) -> int | None:
    """The longest input the model was built for: the first positive integer among its
    config's :data:`CONTEXT_KEYS`; ``None`` for a model without attention blocks (a pure
    recurrent model reads any length) or without such a key."""
    if not any("attention" in kind for kind in layer_types):
        return None
    config = as_hf(model).config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for key in CONTEXT_KEYS:
        value = getattr(text, key, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def available_memory(device: torch.device) -> int | None:
    """Bytes free for the run: free GPU memory, or the host's available memory (Linux
    ``MemAvailable``, else physical memory); ``None`` when unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
