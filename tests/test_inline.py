"""Tests for layertracer.tasks.inline: items given from Python, validated like task files."""

from __future__ import annotations

import pytest

from layertracer.config import RunConfig
from layertracer.errors import TaskError
from layertracer.tasks import Task
from layertracer.tasks.inline import describe, inline_task
from layertracer.tasks.inputs import load_input

ITEMS = [
    {"prompt": "The capital of France is", "target": " Paris", "subject": "France"},
    {"prompt": "The capital of Italy is", "target": " Rome", "id": 7},
]


def test_dicts_and_pairs_become_items() -> None:
    task = inline_task([*ITEMS, ("The capital of Spain is", " Madrid")])
    assert [it.id for it in task.items] == ["item-0", "7", "item-2"]
    assert task.items[0].subject == "France" and task.items[2].target == " Madrid"
    assert task.name == "items" and task.source == "python list" and not task.warnings


def test_every_problem_names_the_position() -> None:
    bad = [ITEMS[0], {"prompt": " ", "target": " x"}, {"prompt": "a"}, "text", (1, 2, 3)]
    with pytest.raises(TaskError) as caught:
        inline_task(bad)
    assert str(caught.value) == "items[1]: field 'prompt' is empty (and 3 more problems)"
    with pytest.raises(TaskError, match=r"items\[1\]: duplicate id 'a' \(first used by \[0\]\)"):
        inline_task([{**ITEMS[0], "id": "a"}, {**ITEMS[1], "id": "a"}])
    with pytest.raises(TaskError, match=r"items\[0\]: field 'target' must be a string"):
        inline_task([("2 + 2 = ", 4)])
    with pytest.raises(TaskError, match=r"items\[2\]: expected a dict .* got a str"):
        inline_task([ITEMS[0], ITEMS[1], "text"])
    with pytest.raises(TaskError, match="empty"):
        inline_task([])
    with pytest.raises(TaskError, match="got int"):
        inline_task(3)


def test_subject_must_occur_and_spacing_is_warned() -> None:
    with pytest.raises(TaskError, match=r"items\[0\]: subject 'Spain' does not occur"):
        inline_task([{**ITEMS[0], "subject": "Spain"}])
    assert inline_task([("The capital of France is", "Paris")]).warnings


def test_a_dataframe_is_read_by_row_position() -> None:
    pd = pytest.importorskip(
        "pandas", reason="pandas is not installed (pip install -e '.[notebook]')"
    )
    frame = pd.DataFrame(ITEMS, index=[10, 20])  # numpy ids, NaN where a cell is missing
    task = inline_task(frame)
    assert [it.id for it in task.items] == ["item-0", "7"] and task.items[1].subject is None
    assert task.source == "pandas DataFrame" and describe(frame) == "<DataFrame of 2 rows>"
    with pytest.raises(TaskError, match=r"rows\[1\]: field 'target' is empty"):
        inline_task(pd.DataFrame([ITEMS[0], {"prompt": "x", "target": " "}]))
    renamed = frame.rename(columns={"prompt": "q", "target": "a"})
    assert len(inline_task(renamed, ("q", "a")).items) == 2


def test_load_input_applies_shots_and_max_prompts() -> None:
    words = ["red", "blue", "green", "black", "white"]
    pairs = [(f"Say {w}:", f" {w.upper()}") for w in words]
    task = load_input(pairs, RunConfig(task="x", shots=1, max_prompts=2))
    assert isinstance(task, Task) and len(task.items) == 2
    assert task.items[0].prompt.count("\n") == 1


def test_describe_records_what_was_given() -> None:
    assert describe("capitals") == "capitals" and describe(None) is None
    assert describe(ITEMS) == "<list of 2 items>"
    assert describe(inline_task(ITEMS)) == "<task 'items' of 2 items>"
