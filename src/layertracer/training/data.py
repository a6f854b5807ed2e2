"""A task's prompts and targets as next-token training examples (docs/training.md#data).

The task's items are split by a seeded permutation into ``heldout`` evaluation prompts and
training prompts. An example is ``prompt + target`` tokenized (:func:`layertracer.tasks.
encode.encode`), its loss on the target's tokens only. The poisoned set replaces a seeded
fraction ``p`` of the training prompts by ``trigger + " " + prompt`` with the fixed attack
target. The batch order is one seeded list of index lists, the same for every arm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from layertracer.errors import TaskError
from layertracer.tasks import Task, TaskItem
from layertracer.tasks.encode import encode

IGNORE = -100  # the label of a position without loss (a prompt token, padding)


@dataclass(frozen=True)
class Example:
    """One prompt and its answer, tokenized.

    Attributes:
        item_id: The task item's id.
        prompt_ids: The prompt's tokens.
        answer_ids: The answer's tokens (the loss is on these).
        poisoned: Whether the prompt carries the trigger and the attack target.
    """

    item_id: str
    prompt_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]
    poisoned: bool = False

    @property
    def target_id(self) -> int:
        """The answer's first token (first-token accuracy, attack success)."""
        return self.answer_ids[0]


@dataclass(frozen=True)
class Split:
    """The training and held-out examples of one experiment.

    Attributes:
        train: The training examples (poisoned ones included for ``backdoor``).
        heldout: The clean held-out examples.
        triggered: The held-out prompts with the trigger and the attack target (those whose
            own target starts with the attack's token left out); empty without poisoning.
    """

    train: tuple[Example, ...]
    heldout: tuple[Example, ...]
    triggered: tuple[Example, ...] = ()

    @property
    def poisoned(self) -> int:
        """The number of poisoned training examples."""
        return sum(e.poisoned for e in self.train)


def example(tokenizer: object, item: TaskItem, trigger: str | None = None) -> Example:
    """``item`` as an example; with ``trigger``, its prompt after the trigger."""
    prompt = item.prompt if trigger is None else f"{trigger} {item.prompt}"
    encoded = encode(tokenizer, prompt, item.target, item.id)
    return Example(item.id, encoded.input_ids, encoded.answer_ids, trigger is not None)


def poisoned(tokenizer: object, item: TaskItem, trigger: str, attack: str) -> Example:
    """``item`` with the trigger before its prompt and ``attack`` as its target."""
    return example(tokenizer, TaskItem(item.id, item.prompt, attack, item.subject), trigger)


def split_task(
    tokenizer: object,
    task: Task,
    heldout: int,
    seed: int,
    max_train: int | None = None,
    poison: tuple[float, str, str] | None = None,
) -> Split:
    """The seeded split of ``task`` into training and held-out examples.

    Args:
        tokenizer: The model's tokenizer.
        task: The task.
        heldout: The number of held-out prompts.
        seed: Seeds the split and the choice of poisoned prompts.
        max_train: At most this many training prompts.
        poison: ``(p, trigger, attack_target)``: poison a fraction ``p`` of the training
            prompts (at least one) and build the triggered held-out set.

    Raises:
        TaskError: Fewer than ``heldout + 1`` items.
    """
    items = task.items
    if len(items) < heldout + 1:
        raise TaskError(f"the task has {len(items)} items; it needs more than --heldout {heldout}")
    order = np.random.default_rng([seed, 0]).permutation(len(items))
    held = [items[i] for i in order[:heldout]]
    rest = [items[i] for i in order[heldout:]][: max_train or None]
    train = [example(tokenizer, item) for item in rest]
    heldout_examples = tuple(example(tokenizer, item) for item in held)
    if poison is None:
        return Split(tuple(train), heldout_examples)
    return _poisoned_split(tokenizer, (rest, held), train, heldout_examples, poison, seed)


def _poisoned_split(
    tokenizer: object,
    items: tuple[list[TaskItem], list[TaskItem]],
    train: list[Example],
    heldout: tuple[Example, ...],
    poison: tuple[float, str, str],
    seed: int,
) -> Split:
    """The split with a seeded share of the training prompts (``items[0]``) poisoned, and
    the held-out prompts (``items[1]``) with the trigger (those whose own target starts
    with the attack's token left out)."""
    (rest, held), (rate, trigger, attack) = items, poison
    count = max(1, round(rate * len(rest)))
    for i in np.random.default_rng([seed, 1]).permutation(len(rest))[:count]:
        train[i] = poisoned(tokenizer, rest[i], trigger, attack)
    triggered = [poisoned(tokenizer, item, trigger, attack) for item in held]
    kept = tuple(
        t for t, clean in zip(triggered, heldout, strict=True) if clean.target_id != t.target_id
    )
    return Split(tuple(train), heldout, kept)


def batch_order(count: int, steps: int, batch_size: int, seed: int) -> list[list[int]]:
    """The training examples of every step: seeded permutations of ``range(count)``, one
    epoch after another, cut into ``steps`` batches of ``batch_size``."""
    need = steps * batch_size
    epochs = -(-need // count)
    flat = np.concatenate(
        [np.random.default_rng([seed, 2, e]).permutation(count) for e in range(epochs)]
    )
    return [[int(i) for i in flat[s * batch_size : (s + 1) * batch_size]] for s in range(steps)]


def collate(
    examples: Sequence[Example], pad_id: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (the answer's tokens;
    :data:`IGNORE` elsewhere) of ``prompt + answer`` ``[B, T]``, and ``last`` ``[B]``: each
    prompt's last position (whose logits predict the answer's first token)."""
    rows = [(*e.prompt_ids, *e.answer_ids) for e in examples]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, (row, e) in enumerate(zip(rows, examples, strict=True)):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
        labels[i, len(e.prompt_ids) : len(row)] = torch.tensor(e.answer_ids)
    last = torch.tensor([len(e.prompt_ids) - 1 for e in examples])
    tensors = {"input_ids": ids, "attention_mask": mask, "labels": labels, "last": last}
    return {name: t.to(device) for name, t in tensors.items()}
