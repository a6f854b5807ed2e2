"""Writing a run's files: ``prompts.csv`` and ``arrays.npz`` (atomically: :mod:`..atomic`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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


def prompts_csv(prompts: Iterable[dict[str, Any]]) -> str:
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
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # stub: **kwds vs allow_pickle
    return buffer.getvalue()


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def arrays_to_data(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Arrays as plain data (``Results.to_dict()["arrays"]``): per name its ``dtype``,
    ``shape`` and flat ``values`` (``Results.to_dict`` makes NaN ``None``)."""
    return {
        name: {"dtype": str(a.dtype), "shape": list(a.shape), "values": a.ravel().tolist()}
        for name, a in arrays.items()
    }


def arrays_from_data(data: object) -> dict[str, np.ndarray]:
    """The inverse of :func:`arrays_to_data` (``None`` back to NaN).

    Raises:
        ValueError: Not such data (the message names the array).
    """
    if not isinstance(data, dict):
        raise ValueError(f"arrays: expected an object, found {type(data).__name__}")
    arrays = {}
    for name, item in data.items():
        try:
            values = [np.nan if v is None else v for v in item["values"]]
            arrays[name] = np.array(values, dtype=item["dtype"]).reshape(item["shape"])
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"arrays.{name}: not a dtype/shape/values object ({exc})") from None
    return arrays
