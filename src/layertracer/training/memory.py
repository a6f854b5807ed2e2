"""The memory preflight of a fine-tuning experiment: refused in one line before the first
step when the estimate exceeds what the device has free (docs/training.md#memory)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from layertracer.errors import ConfigError
from layertracer.model.limits import available_memory

ADAMW_STATES = 2  # exp_avg and exp_avg_sq, one copy of each trained parameter
ACTIVATION_COPIES = 16  # saved tensors per block and token, in units of the hidden size


def training_bytes(
    model: nn.Module, blocks: Sequence[nn.Module], batch: int, tokens: int
) -> dict[str, int]:
    """The estimated bytes of the worst arm (every block trained): the parameters, the
    snapshot of the blocks, their gradients and AdamW's two states, and the activations of
    a batch (``batch · tokens`` positions: the blocks' saved tensors and three copies of the
    logits)."""
    size = next(model.parameters()).element_size()
    params = sum(p.numel() for p in model.parameters()) * size
    trained = sum(p.numel() for b in blocks for p in b.parameters()) * size
    config = model.config
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    positions = batch * tokens
    activations = positions * (ACTIVATION_COPIES * hidden * len(blocks) + 3 * vocab) * 4
    return {
        "parameters": params,
        "snapshot": trained,
        "gradients": trained,
        "optimiser": ADAMW_STATES * trained,
        "activations": activations,
    }


def check_memory(
    model: nn.Module, blocks: Sequence[nn.Module], batch: int, tokens: int, device: torch.device
) -> int:
    """Returns the estimate (bytes); refuses it when it exceeds the free memory.

    Raises:
        ConfigError: The estimate and what is free, in one line.
    """
    parts = training_bytes(model, blocks, batch, tokens)
    need = sum(parts.values())
    free = available_memory(device)
    if free is not None and need > free:
        shown = ", ".join(f"{k} {_gib(v)}" for k, v in parts.items())
        raise ConfigError(
            f"fine-tuning needs about {_gib(need)} ({shown}) but {_gib(free)} is free on "
            f"{device}; lower --batch-size or use a smaller model"
        )
    return need


def _gib(size: float) -> str:
    return f"{size / 2**30:.2f} GiB"
