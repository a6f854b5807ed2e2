"""The generic English text the tuned lens is trained and measured on (docs/lens.md).

Two public-domain novels ship with the package, gzip-compressed, in ``data/lens/``
(``SOURCE.md`` there: Jane Austen's *Persuasion*, the training text, and *Northanger
Abbey*, the held-out text, from the Debian package ``r-cran-janeaustenr``). Each text is
tokenized once without special tokens and cut into windows of ``window`` tokens; every
window gets the tokenizer's own leading special tokens (e.g. BOS), as a prompt does.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import torch

from layertracer.errors import ConfigError
from layertracer.tasks.text import special_prefix

CORPUS = {"train": "persuasion.txt.gz", "heldout": "northanger-abbey.txt.gz"}


@dataclass(frozen=True)
class Windows:
    """Token windows of a corpus text.

    Attributes:
        input_ids: ``[n, prefix + window]`` token ids (the last window may be padded).
        attention_mask: ``[n, prefix + window]`` 1 for real tokens.
        text_mask: ``[n, prefix + window]`` True at the text's positions (not the special
            prefix, not padding): the positions the lens is trained and measured on.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    text_mask: torch.Tensor


def corpus_text(split: str) -> str:
    """The text of ``split`` (``train`` or ``heldout``)."""
    folder = resources.files("layertracer.tasks").joinpath("data", "lens")
    return gzip.decompress(folder.joinpath(CORPUS[split]).read_bytes()).decode("utf-8")


def corpus_digest() -> str:
    """SHA-256 (first 16 hex digits) of both shipped texts: part of the lens's cache key."""
    digest = hashlib.sha256()
    for split in CORPUS:
        digest.update(corpus_text(split).encode("utf-8"))
    return digest.hexdigest()[:16]


def corpus_windows(tokenizer: Any, split: str, tokens: int, window: int) -> Windows:
    """The first ``tokens`` text tokens of ``split`` in windows of ``window`` tokens.

    Args:
        tokenizer: The model's tokenizer.
        split: ``train`` or ``heldout``.
        tokens: How many text positions to keep.
        window: Text tokens per window.

    Raises:
        ConfigError: The text has fewer than ``tokens`` tokens.
    """
    ids = list(tokenizer(corpus_text(split), add_special_tokens=False)["input_ids"])
    if len(ids) < tokens:
        raise ConfigError(
            f"the lens corpus's {split} text has {len(ids)} tokens for this tokenizer; "
            f"asked for {tokens} (lower --lens-tokens)"
        )
    prefix = special_prefix(tokenizer)
    rows = [prefix + ids[s : min(s + window, tokens)] for s in range(0, tokens, window)]
    width = len(prefix) + window
    input_ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for n, row in enumerate(rows):
        input_ids[n, : len(row)] = torch.tensor(row)
        mask[n, : len(row)] = 1
    text_mask = mask.bool()
    text_mask[:, : len(prefix)] = False
    return Windows(input_ids, mask, text_mask)
