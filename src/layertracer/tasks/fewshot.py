"""Few-shot prompts: put K solved items of the same task before each item.

``few_shot(task, shots=3)`` turns every item's prompt into three demonstrations, each
``"{prompt}{target}\\n"``, followed by the item's own prompt; the item keeps its ``id``,
``target`` and ``subject``. Example, on the ``translation`` suite::

    English: cat
    French: chat
    English: red
    French: rouge
    English: dog
    French:            -> " chien"

A demonstration never gives the answer away. For an item, another item is *usable*
as a demonstration unless

- it is the item itself (same id, or same prompt);
- it has the same answer (targets equal after stripping whitespace, ignoring case);
- its text (prompt + target) contains the item's answer as a whole word, ignoring case
  (``"The opposite of cold is hot"`` is no demonstration for ``"The opposite of hot is"``
  -> ``" cold"``, nor ``"17 - 7 = 10"`` for an answer ``"7"``);
- its text contains the item's subject, ignoring case, so that the subject occurs in the
  new prompt only where the item's own prompt has it (causal tracing corrupts that span).

The K demonstrations are drawn from the usable items in an order fixed by SHA-256 of
``(seed, item id, demonstration id)``: the same task, K and seed always give the same
prompts, on any machine and Python version.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

from layertracer.errors import TaskError
from layertracer.tasks.schema import Task, TaskItem

SEPARATOR = "\n"


def few_shot(task: Task, shots: int, seed: int = 0, limit: int | None = None) -> Task:
    """Prepend ``shots`` demonstrations from the same task to every item's prompt.

    Args:
        task: A loaded task.
        shots: How many demonstrations per item (0 returns the task unchanged).
        seed: Picks which usable items become demonstrations, and their order.
        limit: Keep only the first ``limit`` items (``--max-prompts``); their
            demonstrations are still drawn from the whole task. The work is linear in the
            task's size for each item kept.

    Returns:
        A task with the same name, source, warnings and item ids, targets and subjects;
        each prompt is ``"".join(f"{d.prompt}{d.target}\\n" for d in demos) + prompt``.

    Raises:
        TaskError: When ``shots`` or ``seed`` is not a non-negative integer, or when an
            item has fewer than ``shots`` usable demonstrations (the message names it).
    """
    _check_count("shots", shots)
    _check_count("seed", seed)
    kept = task.items if limit is None else task.items[:limit]
    if shots == 0:
        return replace(task, items=tuple(kept))
    texts = [(other.prompt + other.target).casefold() for other in task.items]
    items = []
    for item in kept:
        usable = [o for o, text in zip(task.items, texts, strict=True) if _usable(o, text, item)]
        if len(usable) < shots:
            raise TaskError(
                f"few-shot with {shots} shots needs {shots + 1} usable items per item, but "
                f"item {item.id!r} of task {task.name!r} has only {len(usable)} other "
                f"usable items (items with the same answer, or whose text contains the "
                f"answer or the subject, are not used); use fewer shots"
            )
        demos = sorted(usable, key=lambda other: _rank(seed, item.id, other.id))[:shots]
        prefix = "".join(f"{demo.prompt}{demo.target}{SEPARATOR}" for demo in demos)
        items.append(replace(item, prompt=prefix + item.prompt))
    return replace(task, items=tuple(items))


def _check_count(name: str, value: object) -> None:
    """Raise TaskError unless ``value`` is a non-negative integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TaskError(f"few-shot {name} must be a non-negative integer, got {value!r}")


def _usable(demo: TaskItem, text: str, item: TaskItem) -> bool:
    """Whether ``demo`` (its prompt + target casefolded: ``text``) may be shown before
    ``item`` without giving its answer away."""
    if demo.id == item.id or demo.prompt == item.prompt:
        return False
    answer = item.target.strip().casefold()
    if demo.target.strip().casefold() == answer:
        return False
    if answer in text and re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", text):
        return False
    return not (item.subject and item.subject.casefold() in text)


def _rank(seed: int, item_id: str, demo_id: str) -> bytes:
    """A fixed pseudo-random sort key for one (item, demonstration) pair."""
    return hashlib.sha256(f"{seed}\0{item_id}\0{demo_id}".encode()).digest()
