"""A run's output folder: checked before any work, written whole or not at all, one run at
a time (docs/decisions.md#output-folder-interrupts-and-resume).

- ``--out`` is resolved to its real path first (a symlink, ``..`` or a relative path name
  the folder they lead to), so that every alias of a folder shares one lock.
- :meth:`OutputDir.check` (before the model loads): ``--out`` must be creatable and
  writable, no part of its path a file, and hold nothing but the files a run writes
  (:data:`RUN_FILES`); an earlier run in it is refused unless ``--overwrite`` (or
  ``--resume``, which continues an interrupted run into it).
- :meth:`OutputDir.lock`: an operating-system lock (:mod:`.lock`) on a file beside
  ``--out``, held for the whole run and its publication.
- Everything is written into :attr:`OutputDir.staging`, a folder beside ``--out`` on the
  same filesystem, which also keeps an interrupted run's resumable state;
  :meth:`OutputDir.publish` moves the earlier run aside, renames the staging folder into
  place, then removes the earlier run. A publication killed between its renames leaves the
  earlier run whole beside ``--out``; the next run into ``--out`` puts it back first.
- Nothing is deleted because a file on disk names it: only regular files of
  :data:`RUN_FILES`, directly inside a folder this process moved aside, ever are.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

from layertracer.errors import ConfigError
from layertracer.results.lock import FileLock

MANIFEST = ".layertracer-run.json"
# The report's figures (layertracer.report.FIGURES and its top-k table; a test keeps the two
# lists equal), each written as PNG and SVG.
FIGURE_NAMES = (
    "lens_heatmap", "trajectory", "particles", "js", "cka", "spectrum", "principal_angles",
    "spectral_readout", "ablation", "tracing", "removal", "topk", "lens_kl",
)  # fmt: skip
RUN_FILES = frozenset(
    {"results.json", "prompts.csv", "arrays.npz", "report.html", MANIFEST}
    | {f"{name}.{ext}" for name in FIGURE_NAMES for ext in ("png", "svg")}
)


def resolve_out(given: str | Path) -> Path:
    """``--out`` as the real path of the folder it names.

    Raises:
        ConfigError: An empty path, or one that names the root of the filesystem.
    """
    if not str(given).strip():
        raise ConfigError("--out is empty: give the folder to write the run into")
    path = Path(os.path.realpath(os.path.expanduser(str(given))))
    if path == path.parent:
        raise ConfigError(f"--out {given}: the root of the filesystem cannot be a run folder")
    return path


class OutputDir:
    """The output folder of one run.

    Attributes:
        target: ``--out``, resolved (:func:`resolve_out`).
        staging: Where the run is written before it is published (and where an interrupted
            run keeps its resumable state).
        aside: Where publication moves the earlier run before it is removed.
    """

    def __init__(self, target: str | Path, overwrite: bool = False, resume: bool = False) -> None:
        self.target = resolve_out(target)
        self.overwrite, self.resume = overwrite, resume
        beside = self.target.parent / f".{self.target.name}.layertracer"
        self.staging = Path(f"{beside}-staging")
        self.aside = Path(f"{beside}-old")
        self._lock = FileLock(Path(f"{beside}-lock"), f"--out {self.target}")

    def check(self) -> None:
        """Refuses, with one line, an output folder that cannot take the run.

        Raises:
            ConfigError: A part of the path is a file, the folder cannot be created or
                written, holds what a run does not write, or holds an earlier run (without
                ``--overwrite``/``--resume``).
        """
        for part in [self.target, *self.target.parents]:
            if part.exists() and not part.is_dir():
                raise ConfigError(f"--out {self.target}: {part} is a file, not a directory")
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.target.parent, prefix=".probe-"):
                pass
        except OSError as exc:
            raise ConfigError(f"--out {self.target}: not writable ({exc.strerror})") from None
        if self.target.is_dir() and not os.access(self.target, os.W_OK | os.X_OK):
            raise ConfigError(f"--out {self.target}: not writable (permission denied)")
        self._only_run_files(self.target)
        earlier = self.target / "results.json"
        if earlier.is_file() and not (self.overwrite or self.resume):
            raise ConfigError(
                f"--out {self.target} holds an earlier run ({earlier}); pass --overwrite to "
                f"replace it once the new run is complete, or choose another folder"
            )
        if self.resume and not self.staging.is_dir():
            raise ConfigError(f"--resume: no interrupted run to continue for --out {self.target}")

    def _only_run_files(self, folder: Path) -> None:
        """Refuses a folder that holds anything but regular files a run writes."""
        if not folder.is_dir():
            return
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name not in RUN_FILES or not entry.is_file(follow_symlinks=False):
                kind = "a symlink" if entry.is_symlink() else "not a file a run writes"
                raise ConfigError(
                    f"--out {self.target} holds {entry.name!r} ({kind}); a run replaces its "
                    f"folder whole, so move it away or choose an empty or new folder"
                )

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Holds the folder's lock for the block; on taking it, puts back an earlier run
        that a killed publication left aside, and checks the folder again.

        Raises:
            ConfigError: Another live process holds it, or the folder no longer passes
                :meth:`check`.
        """
        with contextlib.suppress(OSError):
            self.target.parent.mkdir(parents=True, exist_ok=True)
        with self._lock.hold():
            self._recover()
            self.check()
            yield

    def _recover(self) -> None:
        """Finishes a publication killed between its steps: the earlier run moved aside is
        put back if the new one never arrived, and removed if it did."""
        if not os.path.lexists(self.aside):
            return
        if self.aside.is_symlink() or not self.aside.is_dir():
            raise ConfigError(f"--out {self.target}: {self.aside} is not this tool's; remove it")
        if os.path.lexists(self.target):
            remove_run(self.aside)
        else:
            os.rename(self.aside, self.target)

    def start(self) -> Path:
        """The staging folder, fresh (or, with ``--resume``, as the interrupted run left it)."""
        if not self.resume:
            self.discard()
        self.staging.mkdir(parents=True, exist_ok=True)
        return self.staging

    def discard(self) -> None:
        """Removes the staging folder (a symlink in its place is unlinked, not followed)."""
        if self.staging.is_symlink() or self.staging.is_file():
            self.staging.unlink()
        elif self.staging.is_dir():
            shutil.rmtree(self.staging, ignore_errors=True)

    def publish(self, keep: tuple[str, ...] = ()) -> Path:
        """Moves the complete run from the staging folder into ``--out`` and returns it.

        The run's files are those in the staging folder (but ``keep``, its resumable state,
        which is dropped). The earlier run is moved aside, the new one renamed into place,
        then the earlier one removed; Ctrl-C is held back meanwhile.

        Raises:
            ConfigError: ``--out`` gained a file a run does not write, or a rename failed
                (the earlier run is then put back).
        """
        for name in keep:
            path = self.staging / name
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(True)
        files = sorted(p.name for p in self.staging.iterdir() if p.name != MANIFEST)
        (self.staging / MANIFEST).write_text(json.dumps({"files": files}) + "\n")
        with _no_interrupt():
            self._only_run_files(self.target)
            moved = False
            try:
                if os.path.lexists(self.target):
                    os.rename(self.target, self.aside)
                    moved = True
                    _step("aside")
                os.rename(self.staging, self.target)
                _step("renamed")
            except OSError as exc:
                if moved and not os.path.lexists(self.target):
                    os.rename(self.aside, self.target)
                raise ConfigError(f"--out {self.target}: not published ({exc.strerror})") from None
            if moved:
                remove_run(self.aside)
        return self.target


def remove_run(folder: Path) -> None:
    """Removes a run folder: only regular files of :data:`RUN_FILES` directly inside it
    (never following a symlink), then the folder if that left it empty."""
    for entry in os.scandir(folder):
        if entry.name in RUN_FILES and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _step(name: str) -> None:
    """A point between two steps of a publication (tests inject a kill here)."""


@contextlib.contextmanager
def _no_interrupt() -> Iterator[None]:
    """Holds SIGINT back (main thread only) until the block is done, then delivers it."""
    caught: list[bool] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    except ValueError:  # not the main thread: nothing to hold back
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt
