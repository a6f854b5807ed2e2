"""Writing a run's files: ``prompts.csv`` and ``arrays.npz`` (atomically: :mod:`..atomic`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from layertracer.atomic import atomic_write

__all__ = ["CSV_FIELDS", "arrays_npz", "atomic_write", "prompts_csv", "read_npz"]

CSV_FIELDS = (
    "id",
    "prompt",
    "target",
    "target_token_id",
    "target_token",
    "particle_layer",
    "final_prob",
    "top1_token_id",
    "top1_token",
    "correct",
    "answer_correct",
)


def prompts_csv(prompts: Iterable[dict]) -> str:
    """One CSV row per prompt with the scalar fields of ``CSV_FIELDS`` (formula-like texts
    quoted, :func:`_cell`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in prompts:
        writer.writerow({k: _cell(row.get(k)) for k in CSV_FIELDS})
    return buffer.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would evaluate these


def _cell(value: object) -> object:
    """A CSV cell: empty for ``None``; a text that a spreadsheet would take for a formula
    (``=``, ``+``, ``-``, ``@``, tab or CR first) gets a leading ``'`` so it shows as text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def arrays_npz(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as the bytes of an uncompressed ``.npz`` file."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
