"""Check the fields of raw records and turn them into :class:`TaskItem` objects.

Field rules (the same for ``.jsonl`` and ``.csv``):

- ``prompt``: a string, not empty or only whitespace.
- ``target``: a string, not empty after stripping; kept exactly as written,
  leading space included.
- ``id`` (optional): a string or an integer, converted to a string; default
  ``item-<line>``; ids are unique within a file.
- ``subject`` (optional): a string that occurs in the prompt.
- Any other field is allowed and ignored.

The prompt and target fields may have other names (``--prompt-field``,
``--target-field``); messages then use those names.
"""

from __future__ import annotations

from typing import Any

from layertracer.errors import TaskError
from layertracer.tasks.parse import REQUIRED_COLUMNS, RawRecord, problem, read_records
from layertracer.tasks.schema import TaskItem

Numbered = list[tuple[int, TaskItem]]  # (line where the item starts, item)


def parse_items(
    text: str, where: str, fmt: str, fields: tuple[str, str] = REQUIRED_COLUMNS
) -> tuple[Numbered, list[str]]:
    """Read and check a whole task file.

    Args:
        text: The file's text.
        where: The name used in messages (path, or ``builtin:<name>``).
        fmt: ``"jsonl"`` or ``"csv"``.
        fields: The names of the prompt and target fields.

    Returns:
        The valid items with their line numbers, and every problem found, in line
        order. The file is valid when the problem list is empty.
    """
    records, problems = read_records(text, where, fmt, fields)
    return check_records(records, problems, where, fields)


def check_records(
    records: list[RawRecord], problems: list[str], where: str, fields: tuple[str, str]
) -> tuple[Numbered, list[str]]:
    """Check every record (see :func:`parse_items`); ``problems`` are those found so far."""
    numbered: Numbered = []
    for record in records:
        item, found = check_record(record, where, fields)
        problems.extend(found)
        if item is not None:
            numbered.append((record.line, item))
    problems.extend(_duplicate_ids(numbered, where))
    if not records and not problems:
        problems.append(problem(where, None, "no items (the file is empty)"))
    problems.sort(key=lambda message: _line_of(message, where))
    return numbered, problems


def _line_of(message: str, where: str) -> int:
    """The line number a problem message refers to (0 for whole-file problems)."""
    number = message[len(where) + 1 :].split(":", 1)[0]
    return int(number) if number.isdigit() else 0


def check_record(
    record: RawRecord, where: str, names: tuple[str, str] = REQUIRED_COLUMNS
) -> tuple[TaskItem | None, list[str]]:
    """Check one record's fields.

    Args:
        record: The raw record.
        where: The name used in messages.
        names: The names of the prompt and target fields.

    Returns:
        The item (None if any field is bad) and the problems found.
    """
    fields, line = record.fields, record.line
    problems: list[str] = []
    prompt = _text_field(fields, names[0], where, line, problems)
    target = _text_field(fields, names[1], where, line, problems, hint=True)
    item_id = _id_field(fields, where, line, problems)
    subject = _subject_field(fields, prompt, where, line, problems)
    texts = {names[0]: prompt, names[1]: target, "id": item_id, "subject": subject}
    for name, value in texts.items():
        _unicode(name, value, where, line, problems)
    if problems or prompt is None or target is None or item_id is None:
        return None, problems
    return TaskItem(id=item_id, prompt=prompt, target=target, subject=subject), problems


def _text_field(
    fields: dict[str, Any],
    name: str,
    where: str,
    line: int,
    problems: list[str],
    hint: bool = False,
) -> str | None:
    """Check a required text field: present, a string, not blank."""
    if name not in fields:
        problems.append(problem(where, line, f"missing field '{name}'"))
        return None
    value = fields[name]
    if not isinstance(value, str):
        tip = f' (write it as a string, e.g. " {value}")' if hint else ""
        problems.append(
            problem(where, line, f"field '{name}' must be a string, got {_kind(value)}{tip}")
        )
        return None
    if not value.strip():
        problems.append(problem(where, line, f"field '{name}' is empty"))
        return None
    return value


def _unicode(name: str, value: str | None, where: str, line: int, problems: list[str]) -> None:
    """Checks that a text field is valid Unicode (JSON can spell a lone surrogate,
    ``"\\ud800"``, which no tokenizer or UTF-8 file can take)."""
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        bad = f"U+{ord(value[err.start]):04X}"
        problems.append(
            problem(where, line, f"field '{name}' holds a lone surrogate ({bad}), not valid text")
        )


def _id_field(fields: dict[str, Any], where: str, line: int, problems: list[str]) -> str | None:
    """Check the optional id: a non-empty string or an integer; default ``item-<line>``."""
    value = fields.get("id")
    if value is None:
        return f"item-{line}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        problems.append(
            problem(where, line, f"field 'id' must be a string or an integer, got {_kind(value)}")
        )
        return None
    if not value.strip():
        problems.append(problem(where, line, "field 'id' is empty"))
        return None
    return value


def _subject_field(
    fields: dict[str, Any], prompt: str | None, where: str, line: int, problems: list[str]
) -> str | None:
    """Check the optional subject: a non-empty string that occurs in the prompt."""
    value = fields.get("subject")
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(
            problem(where, line, f"field 'subject' must be a string, got {_kind(value)}")
        )
        return None
    if not value.strip():
        problems.append(problem(where, line, "field 'subject' is empty"))
        return None
    if prompt is not None and value not in prompt:
        problems.append(
            problem(where, line, f"subject {value!r} does not occur in the prompt {prompt!r}")
        )
    return value


def _kind(value: Any) -> str:
    """A short name for a field value's type, as a user reading JSON would say it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    names: dict[type, str] = {list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _duplicate_ids(numbered: Numbered, where: str) -> list[str]:
    """One problem for every item whose id an earlier item already uses."""
    first_line: dict[str, int] = {}
    problems = []
    for line, item in numbered:
        if item.id in first_line:
            problems.append(
                problem(
                    where,
                    line,
                    f"duplicate id {item.id!r} (first used on line {first_line[item.id]})",
                )
            )
        else:
            first_line[item.id] = line
    return problems


def spacing_warnings(items: tuple[TaskItem, ...]) -> tuple[str, ...]:
    """Warn once when targets would glue onto the last word of their prompts.

    The target token is the first token of ``tokenize(prompt + target)``, so
    ``"... is" + "Paris"`` is read as ``"isParis"``. Most tasks want a leading
    space in the target.

    Args:
        items: The loaded items.

    Returns:
        No warning, or one line naming how many items and the first one.
    """
    glued = [it for it in items if not it.prompt[-1:].isspace() and not it.target[:1].isspace()]
    if not glued:
        return ()
    first = glued[0]
    joined = first.prompt.split()[-1] + first.target.split()[0]
    noun = "item has" if len(glued) == 1 else "items have"
    return (
        f"{len(glued)} {noun} no whitespace between prompt and target (first: id "
        f"{first.id!r}, read as {joined!r}); the target token comes from "
        f"tokenize(prompt + target), so start the target with a space unless the "
        f"words are meant to join",
    )


def raise_first(problems: list[str], where: str) -> None:
    """Raise :class:`TaskError` with the first problem and a count of the rest.

    Args:
        problems: The problems, in line order.
        where: The file (or suite) to name in the ``validate`` hint.

    Raises:
        TaskError: When ``problems`` is not empty.
    """
    if not problems:
        return
    message = problems[0]
    rest = len(problems) - 1
    if rest:
        noun = "problem" if rest == 1 else "problems"
        message += f" (and {rest} more {noun}; run `layertracer tasks validate {where}`)"
    raise TaskError(message)
