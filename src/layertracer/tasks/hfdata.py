"""Read a task from a Hugging Face dataset folder written by ``save_to_disk``.

Needs the optional package ``datasets`` (``pip install 'layertracer[datasets]'``); nothing
is downloaded: ``datasets.load_from_disk`` reads the Arrow files in the folder. A
``DatasetDict`` folder needs a split (``--split``; default ``test`` if it has one, else its
only split). The prompt and target columns are chosen by name; numbers in the target
column become strings (``7`` -> ``"7"``), every other field is checked as in a task file,
with the 1-based row number in place of the line number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layertracer.errors import TaskError, first_line
from layertracer.tasks.parse import RawRecord

DEFAULT_SPLIT = "test"


def is_dataset_dir(path: Path) -> bool:
    """Whether ``path`` looks like a ``save_to_disk`` folder (Dataset or DatasetDict)."""
    marks = ("dataset_info.json", "state.json", "dataset_dict.json")
    return path.is_dir() and any((path / mark).is_file() for mark in marks)


def read_dataset(
    path: Path, split: str | None, fields: tuple[str, str]
) -> tuple[str, list[RawRecord]]:
    """The rows of a saved dataset as raw task records.

    Args:
        path: The folder given to ``save_to_disk``.
        split: The split of a ``DatasetDict`` (None: ``test``, or the only split).
        fields: The names of the prompt and target columns.

    Returns:
        The name to use in messages (``<path>[<split>]``) and one record per row.

    Raises:
        TaskError: ``datasets`` is not installed, the folder is no saved dataset, the
            split does not exist or a column is missing.
    """
    dataset, where = _open(path, split)
    columns = list(dataset.column_names)
    missing = [name for name in fields if name not in columns]
    if missing:
        raise TaskError(
            f"{where}: no column {', '.join(map(repr, missing))} (it has "
            f"{', '.join(map(repr, columns))}); choose with --prompt-field/--target-field"
        )
    target = fields[1]
    records = []
    for number, row in enumerate(dataset, start=1):
        record = {key: value for key, value in row.items() if value is not None}
        record[target] = _as_text(record.get(target))
        records.append(RawRecord(number, record))
    return where, records


def _open(path: Path, split: str | None) -> tuple[Any, str]:
    """Load the folder and pick the split."""
    try:
        import datasets
    except ImportError:
        raise TaskError(
            f"{path}: reading a Hugging Face dataset folder needs the optional package "
            f"`datasets` (pip install 'layertracer[datasets]')"
        ) from None
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as err:  # FileNotFoundError, ValueError, Arrow errors, ...
        raise TaskError(
            f"{path}: not a dataset folder written by save_to_disk ({first_line(err)})"
        ) from None
    if not isinstance(loaded, datasets.DatasetDict):
        if split is not None and loaded.split is not None and str(loaded.split) != split:
            raise TaskError(f"{path}: holds only split {str(loaded.split)!r}, not {split!r}")
        return loaded, str(path)
    names = list(loaded)
    chosen = split or (DEFAULT_SPLIT if DEFAULT_SPLIT in names or len(names) != 1 else names[0])
    if chosen not in names:
        raise TaskError(
            f"{path}: no split {chosen!r} (splits: {', '.join(names)}); choose one with --split"
        )
    return loaded[chosen], f"{path}[{chosen}]"


def _as_text(value: object) -> object:
    """A number target as a string (``7`` -> ``"7"``); anything else unchanged."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value
