"""Read the text of a task file into raw records, each with its line number.

Only the file *syntax* is checked here (JSON per line, CSV header and quoting);
the fields of each record are checked in :mod:`layertracer.tasks.records`.
Every problem is one string ``"<where>:<line>: <what is wrong>"``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

REQUIRED_COLUMNS = ("prompt", "target")
OPTIONAL_COLUMNS = ("id", "subject")
FORMATS = ("jsonl", "csv")


@dataclass(frozen=True)
class RawRecord:
    """One record as read from the file, before its fields are checked.

    Attributes:
        line: The physical line (1-based) where the record starts.
        fields: The record's fields; empty CSV cells of optional columns are left
            out (so an empty ``id`` gets the default id).
    """

    line: int
    fields: dict[str, Any]


def problem(where: str, line: int | None, message: str) -> str:
    """Format one problem the way every task message is formatted.

    Args:
        where: The file path as given, or ``builtin:<name>``.
        line: The 1-based line number, or None for a problem of the whole file.
        message: What is wrong, starting in lower case.

    Returns:
        ``"<where>:<line>: <message>"``, or ``"<where>: <message>"`` without a line.
    """
    return f"{where}:{line}: {message}" if line is not None else f"{where}: {message}"


def read_records(
    text: str, where: str, fmt: str, required: tuple[str, str] = REQUIRED_COLUMNS
) -> tuple[list[RawRecord], list[str]]:
    """Split a task file's text into raw records.

    Args:
        text: The whole file, decoded.
        where: The name used in messages.
        fmt: ``"jsonl"`` or ``"csv"``.
        required: The names of the prompt and target fields (``--prompt-field``,
            ``--target-field``); a CSV header must have both.

    Returns:
        The records that could be read, and the syntax problems found.
    """
    if fmt == "jsonl":
        return _read_jsonl(text, where)
    if fmt == "csv":
        return _read_csv(text, where, required)
    raise ValueError(f"unknown task format {fmt!r}; expected one of {FORMATS}")


def _read_jsonl(text: str, where: str) -> tuple[list[RawRecord], list[str]]:
    """Read one JSON object per line, skipping blank lines."""
    records: list[RawRecord] = []
    problems: list[str] = []
    # Split on "\n" only: str.splitlines() would also split on U+2028 and friends,
    # which JSON allows raw inside strings, and the line numbers would drift.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(problem(where, number, f"invalid JSON ({err.msg}, column {err.colno})"))
            continue
        except RecursionError:
            problems.append(problem(where, number, "JSON nested too deep to be a task item"))
            continue
        if not isinstance(value, dict):
            problems.append(
                problem(where, number, f"expected a JSON object, got {_json_type(value)}")
            )
            continue
        records.append(RawRecord(number, value))
    return records, problems


def _json_type(value: Any) -> str:
    """Name a decoded JSON value's type the way JSON names it."""
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _read_csv(
    text: str, where: str, required: tuple[str, str]
) -> tuple[list[RawRecord], list[str]]:
    """Read a CSV file with a header row; quoted cells may hold commas and newlines."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[RawRecord] = []
    problems: list[str] = []
    columns: list[str] | None = None
    start = 1
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                if columns is None:
                    columns = _header(row, where, start, problems, required)
                    if columns is None:
                        return [], problems
                else:
                    _add_row(row, columns, (where, start, required), records, problems)
            start = reader.line_num + 1
    except csv.Error as err:
        problems.append(problem(where, start, f"malformed CSV ({err})"))
    return records, problems


def _header(
    row: list[str], where: str, line: int, problems: list[str], required: tuple[str, str]
) -> list[str] | None:
    """Check the header row; return the column names, or None when unusable."""
    columns = [cell.strip() for cell in row]
    ok = True
    for name in required + OPTIONAL_COLUMNS:
        if columns.count(name) > 1:
            problems.append(problem(where, line, f"the header names column '{name}' twice"))
            ok = False
    missing = [name for name in required if name not in columns]
    if missing:
        shown = ", ".join(repr(c) for c in columns)
        names = " and ".join(f"'{m}'" for m in missing)
        noun = "columns" if len(missing) > 1 else "column"
        problems.append(
            problem(where, line, f"the header row has no {names} {noun} (it has {shown})")
        )
        ok = False
    return columns if ok else None


def _add_row(
    row: list[str],
    columns: list[str],
    at: tuple[str, int, tuple[str, str]],
    records: list[RawRecord],
    problems: list[str],
) -> None:
    """Turn one data row into a record, or record why it cannot be one.

    ``at`` is ``(where, line, required field names)``."""
    where, line, required = at
    if len(row) != len(columns):
        problems.append(
            problem(where, line, f"{len(row)} fields, but the header has {len(columns)}")
        )
        return
    fields = {
        name: cell
        for name, cell in zip(columns, row, strict=True)
        if cell != "" or name in required
    }
    records.append(RawRecord(line, fields))
