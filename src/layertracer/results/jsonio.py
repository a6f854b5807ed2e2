"""The JSON side of a results file: strict reading (no ``NaN``, size and depth bounds),
finite writing (``NaN`` as ``null``), the per-layer length check and validation messages
as ``json.path: what is wrong``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from layertracer.errors import ResultsError

MAX_JSON_BYTES = 2**30  # a results.json beyond 1 GiB is not one this tool wrote


def read_json(file: Path) -> object:
    """A results.json file's object: at most :data:`MAX_JSON_BYTES`, strict JSON (no
    ``NaN``/``Infinity``, which results.json writes as ``null``), not nested beyond what
    Python parses.

    Raises:
        ResultsError: Too large, not UTF-8 text, not strict JSON, nested too deep, unreadable.
    """
    try:
        if file.stat().st_size > MAX_JSON_BYTES:
            raise ResultsError(f"{file}: larger than {MAX_JSON_BYTES // 2**20} MiB")
        return json.loads(file.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{file}: not a text file ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{file}:{exc.lineno}: malformed JSON ({exc.msg})") from None
    except ValueError as exc:
        raise ResultsError(f"{file}: not strict JSON ({exc})") from None
    except RecursionError:
        raise ResultsError(f"{file}: nested too deep to be a results.json") from None
    except OSError as exc:
        raise ResultsError(f"{file}: cannot read ({exc.strerror})") from None


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number results.json holds")


def check_length(path: str, value: object, shape: str, want: int) -> None:
    """Raises ``ValueError`` naming ``path`` unless the array has the per-layer ``shape``
    of its field (:class:`~layertracer.schema.section.Layers`), with ``want`` (``L+1``)
    entries per layer axis."""
    if shape == "each" and isinstance(value, dict):
        for key, item in value.items():
            _need(f"{path}.{key}", item, want)
        return
    if shape in ("layers", "square"):
        _need(path, value, want)
    if shape == "pairs":  # one entry per pair of consecutive layer states
        _need(path, value, want - 1, "pair (ℓ, ℓ+1)")
    if shape in ("rows", "square") and isinstance(value, list):
        for i, row in enumerate(value):
            _need(f"{path}[{i}]", row, want)


def _need(path: str, value: object, want: int, each: str = "layer state 0..L") -> None:
    if not isinstance(value, list) or len(value) != want:
        got = len(value) if isinstance(value, list) else type(value).__name__
        raise ValueError(f"{path}: expected {want} entries (one per {each}), got {got}")


def first_problem(exc: ValidationError) -> str:
    """The first validation error as ``json.path: message``."""
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    if not path:
        return message
    if error["type"] == "missing":
        return f"{path}: {message}"
    got = error.get("input")
    shown = type(got).__name__ if isinstance(got, (dict, list)) else repr(got)[:60]
    return f"{path}: {message} (got {shown})"


def plain(value: object) -> object:
    """JSON fallback for numpy scalars and arrays."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def finite(value: object) -> object:
    """Replaces NaN and infinities by ``None`` so the JSON is standard."""
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
