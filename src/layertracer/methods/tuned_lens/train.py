"""Training the tuned lens (docs/method.md#tuned-lens): the layer states of the corpus are
collected once, then each optimiser step lowers the summed, position-averaged
``KL(final ‖ lens)`` of every layer state ``0 .. L-1`` on ``batch`` positions.

The gradient flows through the model's own final norm, unembedding and output transform
(frozen); only the translators learn. Everything runs in float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from layertracer.config import LensConfig
from layertracer.errors import ModelError
from layertracer.model.anatomy import Anatomy
from layertracer.model.capture import capture_blocks, forward
from layertracer.model.load import LoadedModel, input_device
from layertracer.model.tuned import TunedLens
from layertracer.tasks.corpus import Windows

CHUNK = 2**24  # float32 elements of [rows, vocab] per unembedding call while training


def corpus_states(
    lm: LoadedModel, anatomy: Anatomy, windows: Windows, step: Callable[[], None], batch: int = 4
) -> torch.Tensor:
    """The ``L+1`` layer states at every text position of the windows, on the CPU.

    Returns:
        ``[L+1, positions, d]`` float32.
    """
    device = input_device(lm.model)
    parts: list[torch.Tensor] = []
    for start in range(0, windows.input_ids.shape[0], batch):
        ids = windows.input_ids[start : start + batch].to(device)
        mask = windows.attention_mask[start : start + batch].to(device)
        keep = windows.text_mask[start : start + batch]
        with torch.no_grad(), capture_blocks(anatomy.blocks, anatomy.slot, False) as cap:
            forward(lm.model, ids, mask)
        parts.append(torch.stack([s.float().cpu()[keep] for s in cap.states()]))
        step()
    return torch.cat(parts, dim=1)


def log_probs(anatomy: Anatomy, rows: torch.Tensor) -> torch.Tensor:
    """Lens log-probs of rows through the model's final norm, unembedding and transform.
    ``[n, d] -> [n, vocab]`` float32"""
    return torch.log_softmax(anatomy.logits(rows[:, None, :])[:, 0].float(), dim=-1)


def layer_chunks(num_layers: int, rows: int, vocab: int) -> list[range]:
    """Layers grouped so that one group's ``[layers * rows, vocab]`` stays under ``CHUNK``."""
    size = max(1, CHUNK // max(1, rows * vocab))
    return [range(s, min(s + size, num_layers)) for s in range(0, num_layers, size)]


def kl_step(anatomy: Anatomy, lens: TunedLens, states: torch.Tensor) -> float:
    """Backpropagates ``sum_i mean_n KL(final ‖ lens_i)`` (nats) of one batch of states
    ``[L+1, n, d]`` into the translators' gradients; returns the loss."""
    L, n, d = states.shape[0] - 1, states.shape[1], states.shape[2]
    with torch.no_grad():
        final = log_probs(anatomy, states[L])  # [n, vocab]
        prob = final.exp()
    total = 0.0
    for layers in layer_chunks(L, n, final.shape[-1]):
        i = torch.tensor(list(layers))
        moved = states[i] + torch.baddbmm(
            lens.bias[i][:, None, :], states[i], lens.weight[i].transpose(1, 2)
        )  # [c, n, d]
        lens_lp = log_probs(anatomy, moved.reshape(-1, d)).view(len(layers), n, -1)
        loss = (prob * (final - lens_lp)).sum(-1).mean(-1).sum()
        torch.autograd.backward(loss)
        total += float(loss.detach())
    return total


def schedule(cfg: LensConfig) -> Callable[[int], float]:
    """Learning-rate factor of step ``k``: linear warm-up, then linear decay to 0."""
    warm = max(1, math.ceil(cfg.warmup * cfg.steps))

    def factor(k: int) -> float:
        if k < warm:
            return (k + 1) / warm
        return max(0.0, (cfg.steps - k) / max(1, cfg.steps - warm))

    return factor


def optimizer(lens: TunedLens, cfg: LensConfig) -> torch.optim.Optimizer:
    """AdamW, or SGD with Nesterov momentum, over the translators."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            lens.parameters(), cfg.lr, cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay
        )
    return torch.optim.AdamW(lens.parameters(), cfg.lr, weight_decay=cfg.weight_decay)


def train_lens(
    anatomy: Anatomy,
    states: torch.Tensor,
    cfg: LensConfig,
    step: Callable[[float], None],
    device: torch.device | None = None,
) -> TunedLens:
    """Trains identity-initialised translators on the states ``[L+1, positions, d]``:
    ``cfg.steps`` steps of ``cfg.batch`` positions, each position at most once, in the
    order of a generator seeded with ``cfg.seed``, on ``device`` (default: the states').
    ``step(loss)`` is called per step."""
    if any(p.is_inference() for p in anatomy.unembed.parameters()):
        raise ModelError(
            "the model was built under torch.inference_mode, so no gradient can pass "
            "through its unembedding; load it outside inference mode to train a tuned lens"
        )
    L, d = states.shape[0] - 1, states.shape[2]
    device = device or states.device
    lens = TunedLens(L, d).to(device)
    opt = optimizer(lens, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule(cfg))
    order = torch.randperm(states.shape[1], generator=torch.Generator().manual_seed(cfg.seed))
    with torch.inference_mode(False), torch.enable_grad():
        for k in range(cfg.steps):
            rows = order[k * cfg.batch : (k + 1) * cfg.batch]
            opt.zero_grad(set_to_none=True)
            loss = kl_step(anatomy, lens, states[:, rows].clone())  # a normal tensor
            opt.step()
            sched.step()
            step(loss)
    lens.requires_grad_(False)
    return lens
