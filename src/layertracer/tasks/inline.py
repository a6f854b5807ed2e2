"""A task given from Python: a list of ``{"prompt", "target"}`` dicts (optional ``id``,
``subject``), a list of ``(prompt, target)`` pairs, or a pandas DataFrame with those columns.

The items are checked exactly like the records of a task file
(:func:`layertracer.tasks.records.check_records`), with the element's position in place of
the line number: ``items[3]: field 'prompt' is empty`` (``rows[3]`` for a DataFrame, by
position as ``df.iloc[3]``). Ids default to ``item-<position>``; a missing cell (NaN) is a
missing field. pandas is not imported here: a DataFrame is read through its
``to_dict("records")``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, TypeGuard

from layertracer.errors import TaskError
from layertracer.tasks.parse import REQUIRED_COLUMNS, RawRecord, problem
from layertracer.tasks.records import check_records, spacing_warnings
from layertracer.tasks.schema import Task, TaskItem

_LINE = re.compile(r"^(items|rows):(\d+): ")
_FIRST_USED = re.compile(r"\(first used on line (\d+)\)")


def describe(task: object) -> str | None:
    """What ``RunConfig.task`` records for a task given to ``trace``: a spec (or None) as
    it is, else ``<list of 12 items>``, ``<DataFrame of 12 rows>``, ``<task 'x' of 6 items>``."""
    if task is None or isinstance(task, str):
        return task
    if isinstance(task, Task):
        return f"<task {task.name!r} of {len(task.items)} items>"
    if _is_frame(task):
        return f"<DataFrame of {len(task)} rows>"
    if isinstance(task, (list, tuple)):
        return f"<list of {len(task)} items>"
    return f"<{type(task).__name__}>"


def inline_task(items: object, fields: tuple[str, str] = REQUIRED_COLUMNS) -> Task:
    """The task of a list of dicts or pairs, or of a DataFrame, validated like a task file.

    Args:
        items: ``[{"prompt": ..., "target": ...}, ...]`` (optional ``id``, ``subject``),
            ``[(prompt, target), ...]``, or a pandas DataFrame with those columns.
        fields: The names of the prompt and target fields of dicts and DataFrames.

    Returns:
        The task (name ``items``), with non-fatal issues in ``Task.warnings``.

    Raises:
        TaskError: The first problem (``items[3]: field 'prompt' is empty``) and how many
            more there are.
    """
    where = "rows" if _is_frame(items) else "items"
    records, problems = _records(items, where, fields)
    if not records and not problems:
        problems.append(f"{where}: no items (the {_kind(items)} is empty)")
    numbered, problems = check_records(records, problems, where, fields)
    problems = [_name_position(p) for p in problems]
    if problems:
        rest = len(problems) - 1
        more = f" (and {rest} more problem{'s' if rest > 1 else ''})" if rest else ""
        raise TaskError(problems[0] + more)
    tasks = tuple(item for _, item in numbered)
    source = "pandas DataFrame" if where == "rows" else "python list"
    return Task(name="items", source=source, items=tasks, warnings=spacing_warnings(tasks))


def _records(
    items: object, where: str, fields: tuple[str, str]
) -> tuple[list[RawRecord], list[str]]:
    """One raw record per element (a pair becomes ``{prompt, target}``), and the elements
    that are neither a dict nor a pair."""
    if _is_frame(items):
        rows: Sequence[Any] = [_frame_row(row) for row in items.to_dict("records")]
    elif isinstance(items, (list, tuple)):
        rows = items
    else:
        raise TaskError(
            "a task must be a suite name, a file, a Task, a list of items or a DataFrame; "
            f"got {type(items).__name__}"
        )
    records, problems = [], []
    for n, row in enumerate(rows):
        if isinstance(row, TaskItem):  # its suite is not kept: a list is one task
            row = {"id": row.id, fields[0]: row.prompt, fields[1]: row.target,
                   "subject": row.subject}  # fmt: skip
        if isinstance(row, dict):
            records.append(RawRecord(n, {k: _plain(v) for k, v in row.items() if _given(v)}))
        elif isinstance(row, (tuple, list)) and len(row) == 2:
            records.append(RawRecord(n, dict(zip(fields, map(_plain, row), strict=True))))
        else:
            want = (
                f"a dict with '{fields[0]}' and '{fields[1]}' or a ({fields[0]}, {fields[1]}) pair"
            )
            problems.append(problem(where, n, f"expected {want}, got {_element(row)}"))
    return records, problems


def _element(row: object) -> str:
    """What an element that is neither a dict nor a pair is: ``a str``, ``a tuple of 3``."""
    size = f" of {len(row)}" if isinstance(row, (tuple, list)) else ""
    return f"a {type(row).__name__}{size}"


def _name_position(message: str) -> str:
    """``items:3: ...`` as ``items[3]: ...`` (positions, not lines)."""
    message = _LINE.sub(lambda m: f"{m[1]}[{m[2]}]: ", message)
    return _FIRST_USED.sub(lambda m: f"(first used by [{m[1]}])", message)


def _frame_row(row: dict[str, Any]) -> dict[str, Any]:
    """A DataFrame row as a dict; an id that pandas turned into a float because another
    row has none (``7`` -> ``7.0``) is an integer again."""
    value = row.get("id")
    if isinstance(value, float) and value.is_integer():
        row["id"] = int(value)
    return row


def _given(value: object) -> bool:
    """False for a missing DataFrame cell (None or NaN), which leaves an optional field out."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _plain(value: object) -> object:
    """A numpy scalar (a DataFrame cell) as the Python value it holds."""
    if not isinstance(value, (str, bytes)) and hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    return value


def _is_frame(value: object) -> TypeGuard[Any]:
    """Whether ``value`` is a pandas DataFrame (pandas is optional: typed as ``Any``)."""
    return type(value).__module__.startswith("pandas") and hasattr(value, "to_dict")


def _kind(items: object) -> str:
    return "DataFrame" if _is_frame(items) else type(items).__name__
