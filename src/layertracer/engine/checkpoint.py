"""Checkpoints of a run's stages, so that a killed run can be resumed (``--resume``).

A stage that loops over batches hands :meth:`Run.each_batch` its state object (the scan's
per-prompt results: a dataclass of dicts, lists, numbers, strings, numpy arrays and nested
dataclasses). After its batches, at most every ``LAYERTRACER_CHECKPOINT_SECONDS`` (default
10) seconds and at the end, the state and the batches done are written atomically to
``<staging>/checkpoints/<stage>.npz``: the arrays as ``.npz`` members and everything else as
JSON (member ``meta``), loaded without pickle. The JSON carries a schema version, a hash of
the run's options and a hash of every prompt's content (its token ids, target and answer),
so a resumed run reuses a batch only if the options and the prompts are those that computed
it: every per-prompt number is then the one an uninterrupted run computes (a batch gives
the numbers of its prompts alone), so the results are the same but for ``timing``. A
checkpoint that is unreadable, of another schema or tool, of other options or other prompts
is refused with one line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from layertracer.atomic import atomic_write
from layertracer.errors import ConfigError

INTERVAL_ENV = "LAYERTRACER_CHECKPOINT_SECONDS"
SCHEMA = 1
SUFFIX = ".npz"
MAX_JSON_BYTES = 64 * 2**20  # a resume state larger than this is not one this tool wrote
START_ANEW = "drop --resume to start anew"
T = TypeVar("T")


class Checkpoints:
    """The checkpoint folder of one run.

    Attributes:
        folder: Where the stage files live.
        interval: Seconds between two checkpoints of a stage.
        resumed: Per stage, the number of batches loaded instead of computed.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.interval = checkpoint_interval()
        self.resumed: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._config = ""
        self._prompts: list[str] = []

    def bind(self, config: dict[str, Any], prompts: Sequence[Sequence[object]]) -> None:
        """Sets what a checkpoint must match: the run's options (a JSON object) and every
        prompt's content (e.g. its token ids and target), in run order; checks every
        checkpoint of the folder against them at once, before any work.

        Raises:
            ConfigError: A checkpoint that :meth:`load` would refuse.
        """
        self._config = content_hash(config)
        self._prompts = [content_hash(list(p)) for p in prompts]
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            self._same_run(path, self._read(path)[0])

    def _path(self, stage: str) -> Path:
        return self.folder / f"{stage.replace('/', '_')}{SUFFIX}"

    def load(self, stage: str, state: object) -> set[tuple[int, ...]]:
        """Fills ``state`` (in place) from the stage's checkpoint; returns the batches done
        (each a tuple of prompt indices), empty when there is none.

        Raises:
            ConfigError: An unreadable or foreign checkpoint, or one of other options or
                other prompts (one line).
            TypeError: ``state`` is not a dataclass instance.
        """
        if not dataclasses.is_dataclass(state) or isinstance(state, type):
            raise TypeError(f"a checkpointed state is a dataclass, not {type(state).__name__}")
        path = self._path(stage)
        if not path.is_file():
            return set()
        meta, arrays = self._read(path)
        self._same_run(path, meta)
        saved = _unreadable(path, lambda: decode(meta["state"], arrays, state))
        for f in dataclasses.fields(state):
            setattr(state, f.name, getattr(saved, f.name))
        done = {tuple(batch) for batch in meta["done"]}
        self.resumed[stage] = len(done)
        return done

    def _read(self, path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The checkpoint's JSON and arrays, or one line on what is wrong."""

        def read() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
            with np.load(path, allow_pickle=False) as members:
                meta = json.loads(bytes(members["meta"]).decode("utf-8"))
                if not isinstance(meta, dict) or meta.get("tool") != "layertracer":
                    raise ValueError("not a layertracer checkpoint")
                if meta.get("schema") != SCHEMA:
                    raise ValueError(f"schema {meta.get('schema')!r}, this version reads {SCHEMA}")
                if not all(isinstance(i, int) for b in meta["done"] for i in b):
                    raise ValueError("bad batch list")
                return meta, {key: members[key] for key in members.files if key != "meta"}

        return _unreadable(path, read)

    def _same_run(self, path: Path, meta: dict[str, Any]) -> None:
        if meta.get("config") != self._config:
            raise ConfigError(
                f"--resume: checkpoint {path} was written with other options; {START_ANEW}"
            )
        theirs = meta.get("prompts")
        if not isinstance(theirs, list) or len(theirs) != len(self._prompts):
            raise ConfigError(
                f"--resume: checkpoint {path} is of {len(theirs or [])} prompts, this run has "
                f"{len(self._prompts)} (the task changed); {START_ANEW}"
            )
        changed = sum(a != b for a, b in zip(theirs, self._prompts, strict=True))
        if changed:
            raise ConfigError(
                f"--resume: {changed} of {len(self._prompts)} prompts differ from those of "
                f"checkpoint {path} (the task changed); {START_ANEW}"
            )

    def save(
        self, stage: str, done: set[tuple[int, ...]], state: object, final: bool = False
    ) -> None:
        """Writes the stage's state and batches done, at most every ``interval`` seconds
        (always when ``final``)."""
        now = time.monotonic()
        if not final and now - self._last.get(stage, 0.0) < self.interval:
            return
        arrays: dict[str, np.ndarray] = {}
        meta = {
            "tool": "layertracer", "schema": SCHEMA, "stage": stage, "config": self._config,
            "prompts": self._prompts, "done": sorted(list(b) for b in done),
            "state": encode(state, arrays),
        }  # fmt: skip
        text = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, meta=text, **arrays)  # type: ignore[arg-type]  # stub: **kwds vs allow_pickle
        atomic_write(self._path(stage), buffer.getvalue())
        self._last[stage] = now


def _unreadable(path: Path, read: Callable[[], T]) -> T:
    """``read()``, its failure turned into one line naming the checkpoint."""
    try:
        return read()
    except (OSError, ValueError, KeyError, TypeError, EOFError, RecursionError,
            zipfile.BadZipFile) as exc:  # fmt: skip
        raise ConfigError(
            f"--resume: checkpoint {path} is unreadable or not this tool's "
            f"({type(exc).__name__}: {str(exc)[:80]}); {START_ANEW}"
        ) from None


def checkpoint_interval() -> float:
    """``LAYERTRACER_CHECKPOINT_SECONDS`` (default 10).

    Raises:
        ConfigError: Not a finite number of seconds >= 0.
    """
    text = os.environ.get(INTERVAL_ENV, "10")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{INTERVAL_ENV} must be a number of seconds >= 0, got {text[:40]!r}")
    return value


def content_hash(value: object) -> str:
    """SHA-256 (hex) of a JSON value in its canonical form."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def read_json(path: Path, what: str) -> object:
    """A JSON file of a run's resumable state, or one line saying it is corrupt.

    Raises:
        ConfigError: Unreadable, too large, too deeply nested or not JSON.
    """
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ValueError(f"larger than {MAX_JSON_BYTES} bytes")
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(
            f"{what} ({path}) is corrupt ({type(exc).__name__}); {START_ANEW}"
        ) from None


def encode(value: object, arrays: dict[str, np.ndarray]) -> object:
    """A state as JSON: arrays go into ``arrays`` (named ``a0, a1, ...``) and are referred
    to as ``{"$array": name}``; dicts as ``{"$dict": [[key, value], ...]}`` (int keys stay
    int), dataclasses as ``{"$fields": {...}}``.

    Raises:
        TypeError: A value of another type.
    """
    if isinstance(value, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {"$array": name}
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return {"$fields": {f.name: encode(getattr(value, f.name), arrays) for f in fields}}
    if isinstance(value, dict):
        return {"$dict": [[k, encode(v, arrays)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [encode(v, arrays) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a checkpoint cannot hold {type(value).__name__}")


def decode(node: object, arrays: dict[str, np.ndarray], like: object = None) -> object:
    """The inverse of :func:`encode`; ``like`` is a value of the type a ``$fields`` node
    decodes to (the stage's fresh state, and its dataclass fields, recursively).

    Raises:
        ValueError: A node that is not what :func:`encode` writes, or does not fit ``like``.
    """
    if isinstance(node, list):
        return [decode(v, arrays) for v in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"$array"}:
        return arrays[str(node["$array"])]
    if set(node) == {"$dict"}:
        return {_key(k): decode(v, arrays) for k, v in node["$dict"]}
    if set(node) == {"$fields"} and dataclasses.is_dataclass(like) and not isinstance(like, type):
        names = {f.name for f in dataclasses.fields(like)}
        given = node["$fields"]
        if not isinstance(given, dict) or set(given) != names:
            raise ValueError(f"fields of {type(like).__name__} do not match")
        values = {k: decode(v, arrays, getattr(like, k)) for k, v in given.items()}
        return dataclasses.replace(like, **values)
    raise ValueError(f"unexpected node with keys {sorted(node)[:4]}")


def _key(key: object) -> int | str:
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise ValueError(f"bad key {key!r}")
    return key
