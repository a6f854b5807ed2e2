"""The result of a run and its files: ``results.json`` (schema 1) and ``prompts.csv``.

Both files are written atomically (temporary file + rename), so a crash never leaves a
half-written result and never destroys the previous one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
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
)


@dataclass
class Results:
    """Everything a run measured, keyed as in results.json (DESIGN §2).

    Attributes:
        config: Every option actually used.
        environment: Python, torch, transformers versions, device, dtype.
        model: Spec, type, ``num_layers`` L, hidden size, ``layer_types`` [L], anatomy.
        lens: ``fidelity_max_abs_err`` and the tolerance.
        prompts: One row per prompt with ``target_prob`` [L+1] and ``particle_layer``.
        accuracy: Fraction of prompts whose final-layer argmax is the target.
        particles: Particle statistics, or ``None`` if not run.
        vulnerability: Vulnerability scan, or ``None`` if not run.
        task: Task name, source and size.
        warnings: Things the user should know (fallbacks, unstable layers).
        timing: Seconds per stage.
        tool: Name and version.
        extra: Other top-level sections (e.g. of later methods), kept as they are.
    """

    config: dict
    environment: dict
    model: dict
    lens: dict
    prompts: list[dict]
    accuracy: float
    particles: dict | None = None
    vulnerability: dict | None = None
    task: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timing: dict = field(default_factory=dict)
    tool: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The results.json object; sections not run are left out."""
        out = {"schema_version": SCHEMA_VERSION, "tool": self.tool}
        for key in (
            "config",
            "environment",
            "model",
            "task",
            "lens",
            "accuracy",
            "prompts",
            "particles",
            "vulnerability",
            "warnings",
            "timing",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return _finite(out)

    @classmethod
    def from_dict(cls, data: dict) -> Results:
        """Rebuilds results from a results.json object."""
        names = set(cls.__dataclass_fields__) - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k != "schema_version"}
        return cls(**known, extra=extra)

    def save(self, out_dir: str | Path) -> Path:
        """Writes ``results.json`` and ``prompts.csv`` into ``out_dir``; returns the json path."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"
        table = prompts_csv(self.prompts)  # both serialised before anything is written
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "prompts.csv", table)
        path = out / "results.json"
        atomic_write(path, text)
        return path


def load(path: str | Path) -> Results:
    """Reads a results.json file (or the one inside a run directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    return Results.from_dict(json.loads(path.read_text()))


def prompts_csv(prompts: list[dict]) -> str:
    """One CSV row per prompt with the scalar fields of ``CSV_FIELDS``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in prompts:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_FIELDS})
    return buffer.getvalue()


def atomic_write(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file in the same directory."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _finite(value: object) -> object:
    """Replaces NaN and infinities by ``None`` so the JSON is standard."""
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
