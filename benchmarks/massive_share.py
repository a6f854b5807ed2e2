"""How much of a layer state's norm the massive channels hold, per layer (docs/stability.md).

For the first prompts of a suite, the layer states of one plain forward; the massive
channels by the package's rule (mean ``|h|`` over the tokens above ``--ratio`` × the median
channel's at some layer); per layer, the share of ``‖h‖²`` in those channels, averaged over
tokens. Noise of norm ``sqrt(r)·‖h‖`` is ``sqrt(r / (1 − share))`` times the rest of the
signal.

    OMP_NUM_THREADS=1 python benchmarks/massive_share.py --models smollm2-135m,gemma3-270m
"""

from __future__ import annotations

import argparse

import torch

from layertracer import load_model
from layertracer.methods.vulnerability.stats import massive_dims
from layertracer.tasks.loader import load_task


def shares(spec: str, task: str, prompts: int, ratio: float) -> tuple[list[int], list[float]]:
    """The massive channels and their share of ``‖h‖²`` per layer state 0..L."""
    lm = load_model(spec, "cpu")
    states = []
    with torch.inference_mode():
        for item in load_task(task).items[:prompts]:
            ids = lm.tokenizer(item.prompt, return_tensors="pt").input_ids
            hidden = lm.model(ids, output_hidden_states=True).hidden_states
            states.append(torch.stack([h[0] for h in hidden]).float())  # [L+1, T, d]
    h = torch.cat(states, dim=1)  # [L+1, tokens, d]
    massive = massive_dims(h.abs().mean(1), ratio)
    squared = h**2
    share = squared[..., massive].sum(-1) / squared.sum(-1)  # [L+1, tokens]
    return massive, share.mean(1).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--task", default="capitals")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--ratio", type=float, default=10.0)
    args = parser.parse_args()
    for spec in args.models.split(","):
        massive, share = shares(spec, args.task, args.prompts, args.ratio)
        d = load_model(spec, "cpu").model.config.get_text_config().hidden_size
        print(f"{spec}: {len(massive)} of {d} channels massive; share of ||h||^2 per layer:")
        print("  " + " ".join(f"{s:.2f}" for s in share))


if __name__ == "__main__":
    main()
