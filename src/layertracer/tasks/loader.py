"""Load a task from a built-in suite name, a ``.jsonl`` / ``.csv`` file, or a Hugging Face
dataset folder written by ``save_to_disk`` (see :mod:`layertracer.tasks.hfdata`).

``load_task`` stops at the first problem (and says how many more there are);
``validate_file`` lists them all. Messages name the file and the line:
``"tasks.jsonl:3: invalid JSON (Expecting value, column 1)"``.
"""

from __future__ import annotations

import codecs
import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from layertracer.errors import TaskError
from layertracer.tasks.hfdata import is_dataset_dir, read_dataset
from layertracer.tasks.parse import REQUIRED_COLUMNS, problem
from layertracer.tasks.records import (
    Numbered,
    check_records,
    parse_items,
    raise_first,
    spacing_warnings,
)
from layertracer.tasks.registry import is_suite, suite_names, suite_text
from layertracer.tasks.schema import Task

SUFFIXES = {".jsonl": "jsonl", ".csv": "csv"}
MAX_TASK_BYTES = 2**30  # 1 GiB: checked before reading, so a huge file is refused at once


@dataclass(frozen=True)
class _Source:
    """A task's text and the names it goes by.

    Attributes:
        name: ``Task.name``: the suite name or the file stem.
        source: ``Task.source``: ``builtin:<name>`` or the path as given.
        hint: What to pass to ``layertracer tasks validate``.
        text: The decoded text.
        fmt: ``"jsonl"`` or ``"csv"``.
    """

    name: str
    source: str
    hint: str
    text: str
    fmt: str


def load_task(
    spec: str | os.PathLike[str],
    max_items: int | None = None,
    fields: tuple[str, str] = REQUIRED_COLUMNS,
    split: str | None = None,
) -> Task:
    """Load and validate a task.

    Args:
        spec: A built-in suite name (see :func:`list_suites`), the path of a
            ``.jsonl`` / ``.csv`` file with fields ``prompt``, ``target`` and
            optional ``id``, ``subject``, or a ``save_to_disk`` dataset folder.
        max_items: Keep only the first this many items (None keeps all).
        fields: The names of the prompt and target fields (files and datasets).
        split: The split of a ``DatasetDict`` folder (None: ``test`` or the only one).

    Returns:
        The task, with non-fatal issues in ``Task.warnings``.

    Raises:
        TaskError: For an unknown spec, an unreadable file or any invalid item; the
            message is the first problem, with its line number.
    """
    limit = _check_max_items(max_items)
    src = _open(os.fspath(spec))
    numbered, problems = _parse(src, split, fields)
    raise_first(problems, src.hint)
    items = tuple(item for _, item in numbered)[:limit]
    return Task(name=src.name, source=src.source, items=items, warnings=spacing_warnings(items))


def validate_file(
    path: str | os.PathLike[str],
    fields: tuple[str, str] = REQUIRED_COLUMNS,
    split: str | None = None,
) -> list[str]:
    """List every problem of a task file.

    Args:
        path: A ``.jsonl`` / ``.csv`` file, a dataset folder, or a built-in suite name.
        fields: The names of the prompt and target fields.
        split: The split of a ``DatasetDict`` folder.

    Returns:
        Each problem as ``"<path>:<line>: <message>"`` (no line for problems of the
        whole file), in line order; an empty list when the file is valid.
    """
    try:
        src = _open(os.fspath(path))
        return _parse(src, split, fields)[1]
    except TaskError as err:
        return [str(err)]


def _parse(src: _Source, split: str | None, fields: tuple[str, str]) -> tuple[Numbered, list[str]]:
    """The numbered items and the problems of a source (built-in suites keep their names)."""
    if src.source.startswith("builtin:"):
        fields = REQUIRED_COLUMNS
    if src.fmt != "dataset":
        return parse_items(src.text, src.source, src.fmt, fields)
    where, records = read_dataset(Path(src.source), split, fields)
    return check_records(records, [], where, fields)


def _check_max_items(max_items: int | None) -> int | None:
    """Return ``max_items`` after checking it is None or a positive integer."""
    if max_items is None:
        return None
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
        raise TaskError(f"max_items must be a positive integer, got {max_items!r}")
    return max_items


def _open(spec: str) -> _Source:
    """Find the task ``spec`` names and read its text (a dataset folder is read later)."""
    if not spec.strip():
        raise TaskError(_unknown_message(spec))
    if is_suite(spec):
        return _Source(spec, f"builtin:{spec}", spec, suite_text(spec), "jsonl")
    path = Path(spec)
    suffix = path.suffix.lower()
    if path.exists() and not (path.is_file() or path.is_dir()):
        raise TaskError(f"{spec}: not a regular file (a pipe or a device); give a task file")
    if path.is_file():
        if suffix not in SUFFIXES:
            raise TaskError(
                f"{spec}: not a task file: expected a .jsonl or .csv extension, "
                f"got {suffix or 'none'!r}"
            )
        return _Source(path.stem, spec, spec, _read_text(path, spec), SUFFIXES[suffix])
    if is_dataset_dir(path):
        return _Source(path.name, spec, spec, "", "dataset")
    if path.is_dir():
        raise TaskError(
            f"{spec}: is a directory, but not a Hugging Face dataset saved with save_to_disk "
            f"(nor a .jsonl/.csv task file)"
        )
    if suffix in SUFFIXES:
        raise TaskError(f"task file not found: {spec}")
    raise TaskError(_unknown_message(spec))


def _unknown_message(spec: str) -> str:
    """The message for a spec that is neither a suite nor a file."""
    names = suite_names()
    message = (
        f"unknown task {spec!r}: not a built-in suite ({', '.join(names)}) nor a .jsonl/.csv file"
    )
    close = difflib.get_close_matches(spec, names, n=1)
    return message + (f"; did you mean {close[0]!r}?" if close else "")


def _read_text(path: Path, where: str) -> str:
    """Read a task file as UTF-8 (a leading byte-order mark is dropped), at most
    :data:`MAX_TASK_BYTES`."""
    try:
        size = path.stat().st_size
        if size > MAX_TASK_BYTES:
            raise TaskError(
                f"{where}: {size / 2**20:.0f} MiB is more than a task file may hold "
                f"({MAX_TASK_BYTES // 2**20} MiB); split it or use --max-prompts on a part"
            )
        data = path.read_bytes()
    except OSError as err:
        raise TaskError(f"{where}: cannot read the file ({err.strerror})") from err
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        bad = data[err.start : err.start + 1].hex()
        raise TaskError(
            problem(where, line, f"not UTF-8 text (byte 0x{bad}); save the file as UTF-8")
        ) from err
