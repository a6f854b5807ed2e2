"""Training one arm: the same initial weights, the same batches, float32 AdamW on the
blocks it trains (docs/training.md#loop).

Every arm starts from the snapshot taken before the first (:class:`Snapshot`) and leaves
the model as it found it. A frozen block's parameters have ``requires_grad`` off and are
not given to the optimiser, so its weight change is exactly 0; the embedding, the final
norm and the unembedding are never trained. The model stays in eval mode (no dropout), so
an arm is a deterministic function of the seed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from layertracer.model.capture import forward
from layertracer.training.data import IGNORE, Example, collate

EVAL_BATCH = 16


@dataclass
class Evaluation:
    """The model on held-out examples.

    Attributes:
        loss: Per example, the mean cross-entropy (nats) over its answer's tokens.
        predicted: Per example, the greedy next token after its prompt.
    """

    loss: list[float] = field(default_factory=list)
    predicted: list[int] = field(default_factory=list)

    @property
    def mean_loss(self) -> float:
        """The mean of :attr:`loss` (nats)."""
        return sum(self.loss) / len(self.loss)


class Snapshot:
    """A copy of every block's parameters, to start each arm from and measure it against."""

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        self.blocks = list(blocks)
        self.saved = [{n: p.detach().clone() for n, p in b.named_parameters()} for b in self.blocks]

    def restore(self) -> None:
        """Puts the saved parameters back (in place)."""
        with torch.no_grad():
            for block, saved in zip(self.blocks, self.saved, strict=True):
                for name, param in block.named_parameters():
                    param.copy_(saved[name])

    def weight_change(self) -> list[float]:
        """Per block ``‖W − W₀‖ / ‖W₀‖`` over all its parameters (Frobenius norms), in
        ``[0, ∞)``; exactly 0 for a block that did not change."""
        out = []
        for block, saved in zip(self.blocks, self.saved, strict=True):
            diff = sum(
                float((p.detach().double() - saved[n].double()).pow(2).sum())
                for n, p in block.named_parameters()
            )
            base = sum(float(w.double().pow(2).sum()) for w in saved.values())
            out.append((diff / base) ** 0.5 if base > 0 else 0.0)
        return out


def evaluate(model: nn.Module, examples: Sequence[Example], pad_id: int = 0) -> Evaluation:
    """Each example's answer loss and greedy first token, without gradients."""
    device = next(model.parameters()).device
    found = Evaluation()
    with torch.no_grad():
        for start in range(0, len(examples), EVAL_BATCH):
            batch = collate(examples[start : start + EVAL_BATCH], pad_id, device)
            logits, targets, first = answer_logits(model, batch)
            rows = torch.arange(len(logits), device=device)
            found.predicted += logits[rows, first].argmax(-1).tolist()
            found.loss += token_loss(logits, targets).tolist()
    return found


def answer_logits(
    model: nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The float32 logits ``[B, K, V]`` at the positions ``K`` that predict answer tokens
    (from the first prompt's last token to the last but one position: the model computes
    only those where it takes ``logits_to_keep``), the labels they predict ``[B, K]``, and
    each row's column of its prompt's last token ``[B]``."""
    ids, labels = batch["input_ids"], batch["labels"]
    keep = torch.arange(int(batch["last"].min()), ids.shape[1] - 1, device=ids.device)
    output, kept = forward(model, ids, batch["attention_mask"], keep)
    logits: torch.Tensor = getattr(output, "logits")  # noqa: B009  (forward returns object)
    if not kept:
        logits = logits[:, keep]
    return logits.float(), labels[:, keep + 1], batch["last"] - keep[0]


def token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per row, the mean cross-entropy (nats) of the labelled tokens (:data:`IGNORE`
    elsewhere), in ``[0, ∞)``. ``[B, K, V], [B, K] -> [B]``"""
    loss = nn.functional.cross_entropy(
        logits.transpose(1, 2), targets, ignore_index=IGNORE, reduction="none"
    )
    counted = (targets != IGNORE).sum(1).clamp_min(1)
    return loss.sum(1) / counted


@dataclass(frozen=True)
class Schedule:
    """How an arm trains.

    Attributes:
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        eval_every: Steps between two held-out losses (step 0 and the last step too).
        seed: Seeds torch before the first step.
    """

    lr: float
    weight_decay: float
    eval_every: int
    seed: int

    def evaluated(self, steps: int) -> list[int]:
        """The steps after which the held-out loss is measured (0 = before training)."""
        return sorted({0, steps, *range(self.eval_every, steps + 1, self.eval_every)})


@contextlib.contextmanager
def trainable(blocks: Sequence[nn.Module], trained: Sequence[int]) -> Iterator[list[nn.Parameter]]:
    """Gradients on for the parameters of the blocks ``trained`` (yielded), off again and
    their gradients dropped on leaving."""
    params = [p for b in trained for p in blocks[b].parameters()]
    try:
        for p in params:
            p.requires_grad_(True)
        yield params
    finally:
        for p in params:
            p.requires_grad_(False)
            p.grad = None


def train(
    model: nn.Module,
    blocks: Sequence[nn.Module],
    trained: Sequence[int],
    data: tuple[Sequence[Example], Sequence[list[int]], Sequence[Example]],
    schedule: Schedule,
    advance: Callable[[], None],
) -> list[list[float]]:
    """Trains the blocks ``trained`` in place on the batches; returns the held-out loss
    curve ``[[step, mean loss], ...]`` at :meth:`Schedule.evaluated` steps.

    Args:
        model: The causal LM (every parameter with ``requires_grad`` off).
        blocks: Its blocks.
        trained: The blocks to train (none: the curve is flat, no step is taken).
        data: The training examples, each step's example indices, the held-out examples.
        schedule: Learning rate, weight decay, evaluation steps, seed.
        advance: Called after every step taken.
    """
    examples, batches, heldout = data
    pad_id, device = _pad_id(model), next(model.parameters()).device
    steps = schedule.evaluated(len(batches))
    start = evaluate(model, heldout, pad_id).mean_loss
    if not trained:
        return [[float(s), start] for s in steps]
    curve = [[0.0, start]]
    torch.manual_seed(schedule.seed)
    with trainable(blocks, trained) as params:
        optimiser = torch.optim.AdamW(params, lr=schedule.lr, weight_decay=schedule.weight_decay)
        for step, ids in enumerate(batches, 1):
            batch = collate([examples[i] for i in ids], pad_id, device)
            logits, targets, _ = answer_logits(model, batch)
            loss = token_loss(logits, targets).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            if step in steps:
                curve.append([float(step), evaluate(model, heldout, pad_id).mean_loss])
            advance()
    return curve


def _pad_id(model: nn.Module) -> int:
    """The padding id the collated batches use (any id: padded positions are masked and
    carry no loss)."""
    return int(getattr(model.config, "pad_token_id", None) or 0)
