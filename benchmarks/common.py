"""Helpers shared by the benchmark scripts: random Llama-shaped models, forward FLOPs,
peak memory and the results files. Not part of the package."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import torch

from layertracer.model.load import LoadedModel, wrap
from layertracer.model.tiny.build import tiny_tokenizer

RESULTS = Path(__file__).parent / "results"
LLAMA_7B = {
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32000,
}


def llama_shaped(shape: dict, device: str, dtype: torch.dtype, name: str) -> LoadedModel:
    """A random Llama with the given shape, built directly on ``device`` (tiny tokenizer)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**shape)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    return wrap(model, tiny_tokenizer(), name)


def forward_flops(model: torch.nn.Module, rows: int, tokens: int) -> float:
    """FLOPs of one forward of ``rows × tokens`` tokens through the blocks: ``2·P`` per token
    for the block weights plus causal attention ``2·T·d`` per token and layer (logits at
    one position only, as the scan computes them)."""
    config = model.config.get_text_config()
    layers = model.model.layers
    params = sum(p.numel() for p in layers.parameters())
    attention = 2 * tokens * config.hidden_size * len(layers)
    return float(rows * tokens * (2 * params + attention))


def peak_memory_gb(device: torch.device) -> float:
    """Peak GPU memory allocated (``device`` cuda) or the process's peak RSS, in GB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss_kb / (1e9 if sys.platform == "darwin" else 1e6)


def write(name: str, payload: dict) -> Path:
    """Writes ``benchmarks/results/<name>.json``; returns its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    path.write_text(json.dumps({**meta, **payload}, indent=1) + "\n")
    return path
