"""The representations of generic text: fixed windows of the held-out lens corpus
(docs/method.md#data-oblivious-critical-layers).

The first ``windows × 32`` tokens of *Northanger Abbey* (:mod:`layertracer.tasks.corpus`),
in windows of :data:`WINDOW` tokens, each with the tokenizer's leading special tokens;
every window gives one representation per layer, of the same kind as CKA's (its last
token's state, or the mean over its tokens).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from layertracer.engine.batching import Batch
from layertracer.methods.cka.collect import clean_states, representation
from layertracer.model.anatomy import Anatomy
from layertracer.tasks.corpus import corpus_windows

WINDOW = 32  # text tokens per window
SPLIT = "heldout"  # the tuned lens trains on the other text


def text_representations(
    model: torch.nn.Module,
    anatomy: Anatomy,
    tokenizer: Any,
    windows: int,
    kind: str,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """The representations of ``windows`` corpus windows. ``-> [windows, L+1, d]`` float64

    Args:
        model: The causal LM.
        anatomy: Its blocks.
        tokenizer: Its tokenizer.
        windows: How many windows of :data:`WINDOW` tokens.
        kind: ``last`` or ``mean`` (``cka.representation``).
        batch_size: Windows per forward pass.
        device: Where the inputs go.

    Raises:
        ConfigError: The text is shorter than ``windows`` windows for this tokenizer.
    """
    found = corpus_windows(tokenizer, SPLIT, windows * WINDOW, WINDOW)
    out = []
    for start in range(0, windows, batch_size):
        ids = found.input_ids[start : start + batch_size].to(device)
        mask = found.attention_mask[start : start + batch_size].to(device)
        last = mask.sum(1) - 1
        index = list(range(start, start + len(ids)))
        batch = Batch(ids, mask, last, torch.zeros_like(last), index)
        states = clean_states(model, anatomy, batch)
        out.append(representation(states, mask, last, kind))
    return np.concatenate(out)
