"""Task suites: prompts with expected answers, from built-in data or a user's file.

A task file is ``.jsonl`` (one JSON object per line) or ``.csv`` (a header row)
with fields ``prompt``, ``target`` and optional ``id`` and ``subject``. The
target is kept exactly as written: the target token is the first token of
``tokenize(prompt + target)`` that is not a token of ``tokenize(prompt)``, so
``"The capital of France is"`` wants the target ``" Paris"``.

Example::

    from layertracer.tasks import load_task
    task = load_task("capitals", max_items=20)
    task = load_task("my_prompts.csv")
    task = few_shot(load_task("translation"), shots=3)   # 3 solved items before each
    task = load_tasks("capitals,antonyms", max_items=20)  # 20 of each, items tagged .suite
    task = load_task("saved_dataset_dir", fields=("question", "answer"), split="test")
"""

from __future__ import annotations

from layertracer.tasks.combine import load_tasks
from layertracer.tasks.fewshot import few_shot
from layertracer.tasks.loader import load_task, validate_file
from layertracer.tasks.registry import list_suites
from layertracer.tasks.schema import SuiteInfo, Task, TaskItem

__all__ = [
    "SuiteInfo",
    "Task",
    "TaskItem",
    "few_shot",
    "list_suites",
    "load_task",
    "load_tasks",
    "validate_file",
]
