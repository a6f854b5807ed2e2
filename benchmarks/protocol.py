"""The full default protocol (lens, particles, vulnerability with 3 seeds) on random-token
prompts: wall time and peak memory.

On a GPU the default case is the issue's: a Llama-7B-shaped random model in bf16, 1,000
prompts of 128 tokens (target: <= 4 minutes on one H100). Without a GPU a scaled-down
shape given by the flags runs on the CPU. One line per case; writes
``benchmarks/results/protocol.json``.

    python benchmarks/protocol.py                      # GPU: 7B shape, 1000 x 128
    python benchmarks/protocol.py --prompts 64 --tokens 32 --hidden 256 --layers 8
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import LLAMA_7B, llama_shaped, peak_memory_gb, write

from layertracer import RunConfig, trace
from layertracer.tasks import Task, TaskItem

TARGETS = (" Paris", " Rome", " Madrid", " Berlin", " Tokyo")


def random_task(tokenizer: object, prompts: int, tokens: int, seed: int = 0) -> Task:
    """``prompts`` items whose prompts are ``tokens`` random tokens (decoded to text; the
    re-encoded length can differ by a few tokens and is reported)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(10, len(tokenizer), size=(prompts, tokens))
    texts = tokenizer.batch_decode(ids.tolist())
    for _ in range(3):  # decoding merges some pieces; trim the re-encoded ids and repeat
        again = [tokenizer(t, add_special_tokens=False)["input_ids"][:tokens] for t in texts]
        texts = tokenizer.batch_decode(again)
    items = [TaskItem(f"r{n}", text, TARGETS[n % len(TARGETS)]) for n, text in enumerate(texts)]
    return Task("random", "benchmark", tuple(items))


def run_case(args: argparse.Namespace) -> dict:
    """Builds the model, runs the default protocol once after a small warm-up."""
    cuda = torch.cuda.is_available() and args.device != "cpu"
    device = torch.device("cuda" if cuda else "cpu")
    shape = dict(LLAMA_7B) if cuda and not args.small else _small_shape(args)
    dtype = torch.bfloat16 if cuda else torch.float32
    lm = llama_shaped(shape, str(device), dtype, "llama-shaped-random")
    task = random_task(lm.tokenizer, args.prompts, args.tokens)
    config = RunConfig(batch_size=args.batch_size, dtype=str(dtype).removeprefix("torch."))
    trace(lm, Task("warmup", "warmup", task.items[:2]), config)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    results = trace(lm, task, config)
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    lengths = [r["num_tokens"] for r in results.prompts]
    return {
        "case": f"{'llama-7b-shape' if shape == LLAMA_7B else 'llama-small'} {device.type}",
        "shape": shape,
        "dtype": str(dtype),
        "prompts": len(task.items),
        "tokens_mean": float(np.mean(lengths)),
        "tokens_range": [min(lengths), max(lengths)],
        "seeds": list(config.vulnerability.seeds),
        "wall_s": round(wall, 2),
        "stages_s": results.timing,
        "batching": results.environment["batching"],
        "peak_memory_gb": round(peak_memory_gb(device), 3),
        "vulnerability_path": results.vulnerability["path"],
        "device": results.environment["device"],
    }


def _small_shape(args: argparse.Namespace) -> dict:
    return {
        "hidden_size": args.hidden,
        "intermediate_size": int(args.hidden * 2.6875),  # Llama's 11008 / 4096
        "num_hidden_layers": args.layers,
        "num_attention_heads": max(1, args.hidden // 64),
        "num_key_value_heads": max(1, args.hidden // 64),
        "vocab_size": args.vocab,
    }


def main() -> None:
    """Parses the flags, runs the case, prints one line and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--batch-size", default="auto", help="an integer or auto")
    parser.add_argument("--device", default="auto", help="auto | cpu")
    parser.add_argument("--small", action="store_true", help="the flag shape even on a GPU")
    parser.add_argument("--hidden", type=int, default=256, help="scaled-down shape (CPU)")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=32000)
    args = parser.parse_args()
    args.batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    row = run_case(args)
    print(
        f"{row['case']}: {row['prompts']} prompts x {row['tokens_mean']:.0f} tokens, "
        f"{len(row['seeds'])} seeds: wall {row['wall_s']:.1f}s  "
        f"peak {row['peak_memory_gb']:.2f} GB  batch {row['batching']['start']}",
        flush=True,
    )
    print(f"wrote {write('protocol', {'cases': [row]})}")


if __name__ == "__main__":
    main()
