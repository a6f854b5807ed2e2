"""Several tasks in one run: ``--task capitals,antonyms,my.jsonl``.

Each task is loaded on its own, gets its few-shot demonstrations from its own items, is
cut to ``max_items`` on its own, and tags its items with its name (``TaskItem.suite``), so
the run can be summarised per task. The tasks are then concatenated in the order given.
Ids stay as they are when they are unique over the run; otherwise every id becomes
``<task>:<id>``. A spec that names a suite or an existing file is one task even if it
contains a comma.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from layertracer.errors import TaskError
from layertracer.tasks.fewshot import few_shot
from layertracer.tasks.loader import load_task
from layertracer.tasks.parse import REQUIRED_COLUMNS
from layertracer.tasks.registry import is_suite
from layertracer.tasks.schema import Task


def split_specs(spec: str) -> list[str]:
    """The task specs in a ``--task`` value (a suite or existing path is never split).

    Raises:
        TaskError: An empty entry (``"a,,b"``) or the same task twice.
    """
    if is_suite(spec) or Path(spec).exists() or "," not in spec:
        return [spec]
    specs = [part.strip() for part in spec.split(",")]
    if not all(specs):
        raise TaskError(f"--task {spec!r}: empty name in the comma list")
    twice = sorted({s for s in specs if specs.count(s) > 1})
    if twice:
        raise TaskError(f"--task {spec!r}: {', '.join(twice)} given twice")
    return specs


def load_tasks(
    spec: str | os.PathLike[str],
    max_items: int | None = None,
    shots: int = 0,
    fields: tuple[str, str] = REQUIRED_COLUMNS,
    split: str | None = None,
) -> Task:
    """Load one task or a comma list of tasks, with few-shot prompts, as one task.

    Args:
        spec: A suite name, file or dataset folder, or a comma list of them.
        max_items: Keep the first this many items *of each task* (after ``shots``, whose
            demonstrations may come from any item of the task).
        shots: Few-shot demonstrations per item, from the item's own task.
        fields: The prompt and target field names (for every file and dataset).
        split: The split of dataset folders.

    Returns:
        The task; its name and source join the parts' with ``,``; every item's ``suite``
        is its task's name.

    Raises:
        TaskError: Any part fails to load, or two parts have the same name.
    """
    parts = []
    for one in split_specs(os.fspath(spec)):
        task = load_task(one, None if shots else max_items, fields, split)
        task = few_shot(task, shots, limit=max_items)
        parts.append(replace(task, items=tuple(replace(it, suite=task.name) for it in task.items)))
    return merge(parts)


def merge(parts: list[Task]) -> Task:
    """Concatenate tasks whose items are tagged with their suite (see module docstring)."""
    if len(parts) == 1:
        return parts[0]
    names = [task.name for task in parts]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise TaskError(f"two tasks are named {twice[0]!r}; rename one of the files")
    items = [item for task in parts for item in task.items]
    ids = [item.id for item in items]
    if len(set(ids)) < len(ids):
        items = [replace(item, id=f"{item.suite}:{item.id}") for item in items]
    return Task(
        name=",".join(names),
        source=",".join(task.source for task in parts),
        items=tuple(items),
        warnings=tuple(f"{task.name}: {w}" for task in parts for w in task.warnings),
    )
