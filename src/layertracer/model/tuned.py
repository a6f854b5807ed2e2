"""The tuned lens's translators (docs/method.md#tuned-lens): one affine map per layer state.

Layer state ``i < L`` is read as ``logits(h + W_i h + b_i)``, the last state ``L`` as
``logits(h)`` (the identity: the model's own output). ``W_i`` and ``b_i`` start at zero, so
an untrained tuned lens is exactly the logit lens. Saved as safetensors (``W``, ``b``) with
a JSON file of what it was trained on; never pickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from layertracer.errors import ModelError

WEIGHTS = "tuned-lens.safetensors"
META = "tuned-lens.json"


class TunedLens(nn.Module):
    """Affine translators for layer states ``0 .. L-1`` (layer ``L``: identity).

    Args:
        num_layers: ``L``.
        hidden_size: ``d``.

    Attributes:
        weight: ``[L, d, d]``, zero at start.
        bias: ``[L, d]``, zero at start.
    """

    def __init__(self, num_layers: int, hidden_size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_layers, hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(num_layers, hidden_size))

    @property
    def num_layers(self) -> int:
        """``L``."""
        return self.weight.shape[0]

    def translate(self, layer: int, rows: torch.Tensor) -> torch.Tensor:
        """``h + W_i h + b_i`` of layer ``layer``'s rows (``layer == L``: ``h``), in the
        rows' dtype. ``[..., d] -> [..., d]``"""
        if layer == self.num_layers:
            return rows
        weight = self.weight[layer].to(rows.device)
        bias = self.bias[layer].to(rows.device)
        return rows + (rows.float() @ weight.T + bias).to(rows.dtype)

    def translate_all(self, states: torch.Tensor) -> torch.Tensor:
        """Every layer ``i < L`` at once. ``[L, n, d] -> [L, n, d]`` float32"""
        return states + torch.baddbmm(self.bias[:, None, :], states, self.weight.transpose(1, 2))


def save_lens(lens: TunedLens, folder: Path, meta: dict[str, Any]) -> None:
    """Writes the translators and ``meta`` (JSON) into ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {"weight": lens.weight.detach().cpu().contiguous(), "bias": lens.bias.detach().cpu()}
    save_file(tensors, str(folder / WEIGHTS))
    (folder / META).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def load_lens(folder: Path) -> tuple[TunedLens, dict[str, Any]]:
    """The translators and metadata saved in ``folder``.

    Raises:
        ModelError: The files are missing or do not hold a tuned lens.
    """
    try:
        tensors = load_file(str(folder / WEIGHTS))
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        weight, bias = tensors["weight"], tensors["bias"]
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"{folder}: not a saved tuned lens ({type(exc).__name__})") from None
    if weight.ndim != 3 or bias.shape != weight.shape[:2] or weight.shape[1] != weight.shape[2]:
        raise ModelError(f"{folder}: tuned-lens tensors have shapes {weight.shape}, {bias.shape}")
    lens = TunedLens(weight.shape[0], weight.shape[1])
    with torch.no_grad():
        lens.weight.copy_(weight)
        lens.bias.copy_(bias)
    lens.requires_grad_(False)
    return lens, meta
