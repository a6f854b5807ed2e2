"""Writing a run's files: atomic writes and ``prompts.csv``."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

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


def prompts_csv(prompts: Iterable[dict]) -> str:
    """One CSV row per prompt with the scalar fields of ``CSV_FIELDS``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in prompts:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_FIELDS})
    return buffer.getvalue()


def atomic_write(path: Path, content: str | bytes) -> None:
    """Writes ``content`` (text as UTF-8) to ``path`` through a temporary file in the same
    directory, renamed into place when complete."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def arrays_npz(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as the bytes of an uncompressed ``.npz`` file."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
