"""Where a trained tuned lens is cached: next to the bundled models' plain weights, in
``$LAYERTRACER_CACHE/lens/<model>-<key>/`` (default ``~/.cache/layertracer``).

The key is a hash of the model's weights (:func:`fingerprint`), the training settings and
the corpus, so a lens is never reused for another model, other settings or another text.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from torch import nn

from layertracer.model.bundled import cache_dir

LENS_FORMAT = 1  # bumped when the training procedure changes what a key means
SAMPLE_STRIDE = 4093  # every this-many-th element of each tensor enters the fingerprint


def fingerprint(model: nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of the model's parameter and buffer names, shapes,
    dtypes and every ``SAMPLE_STRIDE``-th value of each (float32): cheap on a large model,
    and different for other weights."""
    digest = hashlib.sha256()
    tensors = [*model.named_parameters(), *model.named_buffers()]
    for name, tensor in sorted(tensors, key=lambda item: item[0]):
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        if tensor.device.type == "meta" or tensor.numel() == 0:
            continue
        flat = tensor.detach().reshape(-1)[::SAMPLE_STRIDE].float().cpu().contiguous()
        digest.update(flat.numpy().tobytes())
    return digest.hexdigest()[:16]


def lens_key(model_fingerprint: str, training: dict[str, Any], corpus: str) -> str:
    """The cache key (16 hex digits) of a lens trained on ``model_fingerprint`` with the
    ``training`` settings on the corpus with digest ``corpus``."""
    text = json.dumps(
        {"format": LENS_FORMAT, "model": model_fingerprint, "training": training, "corpus": corpus},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def lens_folder(spec: str, key: str) -> Path:
    """The cache folder of the lens ``key`` of model ``spec`` (made safe as a file name)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", spec).strip("._") or "model"
    return cache_dir() / "lens" / f"{name[-60:]}-{key}"
