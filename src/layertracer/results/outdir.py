"""A run's output folder: checked before any work, written whole or not at all, one run at
a time (docs/decisions.md#output-folder-interrupts-and-resume).

- :meth:`OutputDir.check` (before the model loads): ``--out`` must be creatable and
  writable (probed by creating and removing a file), no part of its path a file, and an
  earlier run in it is refused unless ``--overwrite`` (or ``--resume``, which continues an
  interrupted run into it).
- :meth:`OutputDir.lock`: a lock file beside ``--out`` (pid and host) makes a second run
  into the same folder fail while the first is alive; the stale lock of a dead process is
  taken over.
- Everything is written into :attr:`OutputDir.staging`, a folder beside ``--out`` on the
  same filesystem, which also keeps an interrupted run's resumable state;
  :meth:`OutputDir.publish` moves the complete run into place. Files in ``--out`` that are
  not a run's are kept; an earlier run's files are replaced only once the new run is
  complete. The files of a run are listed in its manifest, ``.layertracer-run.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from layertracer.errors import ConfigError

MANIFEST = ".layertracer-run.json"


class OutputDir:
    """The output folder of one run.

    Attributes:
        target: ``--out``.
        staging: Where the run is written before it is published (and where an interrupted
            run keeps its resumable state).
    """

    def __init__(self, target: str | Path, overwrite: bool = False, resume: bool = False) -> None:
        self.target = Path(target)
        self.overwrite, self.resume = overwrite, resume
        self.staging = self.target.parent / f".{self.target.name}.layertracer-staging"
        self._lock = self.target.parent / f".{self.target.name}.layertracer-lock"

    def check(self) -> None:
        """Refuses, with one line, an output folder that cannot take the run.

        Raises:
            ConfigError: A part of the path is a file, the folder cannot be created or
                written, or it holds an earlier run (without ``--overwrite``/``--resume``).
        """
        for part in [self.target, *self.target.parents]:
            if part.exists() and not part.is_dir():
                raise ConfigError(f"--out {self.target}: {part} is a file, not a directory")
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            for folder in (self.target.parent, self.target):
                if folder.is_dir():
                    with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
                        pass
        except OSError as exc:
            raise ConfigError(f"--out {self.target}: not writable ({exc.strerror})") from None
        earlier = self.target / "results.json"
        if earlier.is_file() and not (self.overwrite or self.resume):
            raise ConfigError(
                f"--out {self.target} holds an earlier run ({earlier}); pass --overwrite to "
                f"replace it once the new run is complete, or choose another folder"
            )
        if self.resume and not self.staging.is_dir():
            raise ConfigError(f"--resume: no interrupted run to continue for --out {self.target}")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Holds the folder's lock for the run.

        Raises:
            ConfigError: Another live process holds it.
        """
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                fd = os.open(self._lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = _owner(self._lock)
                if owner is not None and _alive(owner, me["host"]):
                    raise ConfigError(
                        f"--out {self.target} is in use by pid {owner['pid']} on "
                        f"{owner['host']} (lock {self._lock})"
                    ) from None
                self._lock.unlink(missing_ok=True)  # a dead process's lock: take it over
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(me, handle)
            break
        try:
            yield
        finally:
            self._lock.unlink(missing_ok=True)

    def start(self) -> Path:
        """The staging folder, fresh (or, with ``--resume``, as the interrupted run left it)."""
        if not self.resume:
            shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True, exist_ok=True)
        return self.staging

    def publish(self, keep: tuple[str, ...] = ()) -> Path:
        """Moves the complete run from the staging folder into ``--out`` and returns it.

        The run's files are those in the staging folder (but ``keep``, its resumable state,
        which is dropped); an earlier run's files (its manifest's) are removed, other files
        of ``--out`` stay. Ctrl-C is held back while the files move.
        """
        for name in keep:
            path = self.staging / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        files = sorted(p.name for p in self.staging.iterdir())
        (self.staging / MANIFEST).write_text(json.dumps({"files": files}) + "\n")
        with _no_interrupt():
            self.target.mkdir(parents=True, exist_ok=True)
            for name in _run_files(self.target):
                path = self.target / name
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            for name in [*files, MANIFEST]:
                os.replace(self.staging / name, self.target / name)
            shutil.rmtree(self.staging, ignore_errors=True)
        return self.target


def _run_files(folder: Path) -> list[str]:
    """The files of the run published in ``folder`` (its manifest), if any."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        earlier = ("results.json", "prompts.csv", "arrays.npz", "report.html")  # no manifest yet
        return [name for name in earlier if (folder / name).exists()]
    try:
        files = json.loads(manifest.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [name for name in files if "/" not in name and (folder / name).exists()] + [MANIFEST]


def _owner(lock: Path) -> dict | None:
    try:
        owner = json.loads(lock.read_text())
        return owner if isinstance(owner.get("pid"), int) else None
    except (OSError, ValueError, AttributeError):
        return None


def _alive(owner: dict, host: str) -> bool:
    """Whether the lock's process lives (a lock of another host is taken as alive)."""
    if owner.get("host") != host:
        return True
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
