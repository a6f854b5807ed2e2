"""The task data types: one item, one loaded task, one built-in suite's description."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskItem:
    """One prompt and the answer the model is expected to continue it with.

    Attributes:
        id: Unique within its task.
        prompt: The text fed to the model.
        target: The expected continuation, exactly as written in the task (a leading
            space is part of it: the target token is the first token of
            ``tokenize(prompt + target)`` that is not a token of ``tokenize(prompt)``).
        subject: A span of the prompt that causal tracing corrupts, or None.
        suite: The task the item comes from (set when tasks are loaded by name, so a run
            over several tasks can be summarised per task), or None.
    """

    id: str
    prompt: str
    target: str
    subject: str | None = None
    suite: str | None = None


@dataclass(frozen=True)
class Task:
    """A validated task: a named sequence of items.

    Attributes:
        name: The suite name, or the file's stem.
        source: ``"builtin:<name>"``, or the file path as given.
        items: The items, in file order.
        warnings: Non-fatal issues found while loading, one line each.
    """

    name: str
    source: str
    items: tuple[TaskItem, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SuiteInfo:
    """What ``layertracer tasks`` shows about one built-in suite.

    Attributes:
        name: The name to pass as ``--task``.
        items: How many items the suite has.
        description: One line on what the suite tests.
        source: Where the data comes from and how it was made.
        licence: The data's licence.
    """

    name: str
    items: int
    description: str
    source: str
    licence: str
