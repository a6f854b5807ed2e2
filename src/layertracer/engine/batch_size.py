"""Adaptive batch size: halve a batch when the GPU runs out of memory, and a first guess
from free memory for ``--batch-size auto``.

A stage hands its per-batch work to :meth:`BatchSizer.run`. When the work raises an
out-of-memory error, the CUDA cache is emptied, the batch is split in two halves and each
half is retried; the smaller size is kept for the rest of the stage. Rows never change
their prompts, so the numbers are the ones the full batch would give (batch == one-by-one).
The work must be retry-safe: write results only after its last allocation that can fail.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass

import torch

from layertracer.engine.batching import Batch, split_batch

OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    {getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError}
)
CPU_AUTO_BATCH = 8  # --batch-size auto on a CPU: host memory is rarely the limit
MAX_AUTO_BATCH = 256
FREE_FRACTION = 0.5  # share of the free GPU memory the estimate may plan for


@dataclass
class BatchSizer:
    """Runs per-batch work at the largest size that fits, halving on out-of-memory.

    Attributes:
        size: Rows per call now (starts at the run's batch size, only shrinks).
        retries: Out-of-memory errors recovered from.
    """

    size: int
    retries: int = 0

    def run(self, batch: Batch, work: Callable[[Batch], None]) -> None:
        """Calls ``work`` on ``batch``, or on parts of it after an out-of-memory error.

        Raises:
            torch.OutOfMemoryError: Even a single prompt does not fit.
        """
        pending = split_batch(batch, self.size) if batch.size > self.size else [batch]
        while pending:
            part = pending.pop(0)
            failed = False
            try:
                work(part)
            except OOM_ERRORS:
                if part.size == 1:
                    raise
                failed = True  # retried outside the handler, so the failed frames are freed
            if failed:
                self.retries += 1
                release_memory()
                self.size = min(self.size, (part.size + 1) // 2)
                pending = [p for rest in (part, *pending) for p in split_batch(rest, self.size)]

    def record(self) -> dict[str, int]:
        """What ran: ``{"size": batch size in effect at the end, "oom_retries": n}``."""
        return {"size": self.size, "oom_retries": self.retries}


def release_memory() -> None:
    """Frees what an aborted attempt left: Python garbage, then the CUDA cache."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def per_prompt_bytes(
    config: object, layers: int, hidden: int, tokens: int, seeds: int, itemsize: int
) -> int:
    """Rough peak memory one prompt of ``tokens`` tokens adds to a vulnerability batch.

    The captured layer states and block inputs (``2·(L+1)·T·d`` elements), one replayed
    block's working set with the seeds stacked (``S·T·(4d + 3·intermediate)``) and eager
    attention scores (``S·heads·T²`` in float32). The clean lens pass needs less.

    Args:
        config: The model's config (intermediate size, heads).
        layers: ``L``.
        hidden: ``d``.
        tokens: The run's longest prompt ``T``.
        seeds: Seeds stacked per replay ``S``.
        itemsize: Bytes per element of the model's dtype.
    """
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    intermediate = getattr(text, "intermediate_size", None) or 4 * hidden
    heads = getattr(text, "num_attention_heads", None) or 1
    states = 2 * (layers + 1) * tokens * hidden * itemsize
    replay = seeds * tokens * (4 * hidden + 3 * intermediate) * itemsize
    scores = seeds * heads * tokens * tokens * 4
    return states + replay + scores


def auto_batch_size(device: torch.device, need_per_prompt: int) -> int:
    """``--batch-size auto``: half the free GPU memory over :func:`per_prompt_bytes`,
    clamped to ``1..256``; :data:`CPU_AUTO_BATCH` on a CPU."""
    if device.type != "cuda":
        return CPU_AUTO_BATCH
    free, _total = torch.cuda.mem_get_info(device)
    return max(1, min(MAX_AUTO_BATCH, int(free * FREE_FRACTION) // max(1, need_per_prompt)))
