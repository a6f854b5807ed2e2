"""An operating-system lock on a file: one holder at a time, released when its process ends.

:class:`FileLock` takes ``fcntl.flock`` on a lock file (never through a symlink) and writes
its pid and host into it, so that a refused process can name the holder. The kernel drops
the lock of a process that dies, however it dies: a stale lock file (a dead process's pid
in it) is simply taken over. The holder removes the file while it still holds the lock; a
process that took the lock on a file removed or replaced meanwhile sees that its file is no
longer the one at the path, and tries again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from layertracer.errors import ConfigError

ATTEMPTS = 20  # a lock file replaced this often in a row is a fight, not a race


class FileLock:
    """The lock file ``path``; ``what`` names what it guards in messages.

    Attributes:
        path: The lock file.
        what: What the lock guards (``--out runs/x``).
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = Path(path), what

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Holds the lock for the block.

        Raises:
            ConfigError: Another process holds it (naming its pid and host), or the lock
                file cannot be opened (a symlink, an unwritable folder).
        """
        fd = self._acquire()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # still held: a waiting process will see a new file
            os.close(fd)

    def _acquire(self) -> int:
        me = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
        for _ in range(ATTEMPTS):
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = _owner(fd)
                os.close(fd)
                raise ConfigError(f"{self.what} is in use by {owner} (lock {self.path})") from None
            if _is_at(fd, self.path):
                os.ftruncate(fd, 0)
                os.pwrite(fd, me, 0)
                return fd
            os.close(fd)  # the holder removed its file as we opened it: take the new one
        raise ConfigError(f"{self.what}: the lock {self.path} keeps changing; try again")

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            return os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise ConfigError(
                f"{self.what}: cannot open the lock {self.path} ({exc.strerror})"
            ) from None


def _is_at(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the file at ``path``."""
    try:
        here = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)


def _owner(fd: int) -> str:
    """``pid N on HOST`` as the holder wrote it, or ``another process``."""
    try:
        owner = json.loads(os.pread(fd, 4096, 0))
        return f"pid {int(owner['pid'])} on {str(owner['host'])[:100]}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
