"""Ctrl-C while the ``layertracer`` command starts (importing torch and the rest takes
seconds): one line and exit status 130, not a traceback of the import that was running.

Only the command is concerned: the package root imports its modules inside
:func:`command_interrupts`, which does nothing unless this process is the ``layertracer``
command (``sys.argv[0]`` its script, or ``-m`` while ``python -m layertracer`` locates
the package). A library import is never affected.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator


def is_command() -> bool:
    """Whether this process is the ``layertracer`` command starting."""
    argv0 = sys.argv[0] if sys.argv else ""
    return argv0 == "-m" or os.path.basename(argv0) in ("layertracer", "layertracer.exe")


@contextlib.contextmanager
def command_interrupts() -> Iterator[None]:
    """In the command, turns a Ctrl-C in the block into ``interrupted`` and exit 130."""
    try:
        yield
    except KeyboardInterrupt:
        if not is_command():
            raise
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: no traceback
        sys.stderr.write("\ninterrupted\n")
        sys.stderr.flush()
        os._exit(130)  # nothing half-imported may run its exit handlers
