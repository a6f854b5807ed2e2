"""Checkpoints of a run's stages, so that a killed run can be resumed (``--resume``).

A stage that loops over batches hands :meth:`Run.each_batch` its state object (the scan's
per-prompt results, a picklable dataclass). After its batches, at most every
``LAYERTRACER_CHECKPOINT_SECONDS`` (default 10) seconds and at the end, the state and the
set of batches done are written atomically to ``<staging>/checkpoints/<stage>.pkl``. A
resumed run loads them and skips the batches done: every per-prompt number is the one an
uninterrupted run computes (a batch gives the numbers of its prompts alone), so the results
are the same but for ``timing``. The files are this tool's own (pickle): never load a
checkpoint folder you did not write.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import time
from pathlib import Path

from layertracer.atomic import atomic_write

INTERVAL_ENV = "LAYERTRACER_CHECKPOINT_SECONDS"


class Checkpoints:
    """The checkpoint folder of one run.

    Attributes:
        folder: Where the stage files live.
        resumed: Per stage, the number of batches loaded instead of computed.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.interval = float(os.environ.get(INTERVAL_ENV, "10"))
        self.resumed: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def _path(self, stage: str) -> Path:
        return self.folder / f"{stage.replace('/', '_')}.pkl"

    def load(self, stage: str, state: object) -> set[tuple[int, ...]]:
        """Fills ``state`` (in place) from the stage's checkpoint; returns the batches done
        (each a tuple of prompt indices), empty when there is none."""
        path = self._path(stage)
        if not path.is_file():
            return set()
        done, saved = pickle.loads(path.read_bytes())
        for f in dataclasses.fields(state):
            setattr(state, f.name, getattr(saved, f.name))
        self.resumed[stage] = len(done)
        return set(done)

    def save(
        self, stage: str, done: set[tuple[int, ...]], state: object, final: bool = False
    ) -> None:
        """Writes the stage's state and batches done, at most every ``interval`` seconds
        (always when ``final``)."""
        now = time.monotonic()
        if not final and now - self._last.get(stage, 0.0) < self.interval:
            return
        atomic_write(self._path(stage), pickle.dumps((sorted(done), state), protocol=5))
        self._last[stage] = now
