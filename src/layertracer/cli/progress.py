"""Progress of a run's stages, for a terminal, a notebook and a log file alike.

:class:`ConsoleProgress` implements :class:`layertracer.run.Progress`. Every stage shows
its count, the time elapsed and an estimate of the time left:

- on a terminal: one rich bar per stage;
- in Jupyter: one line per stage in the cell's output, redrawn in place at most every
  :data:`NOTEBOOK_REFRESH` seconds and always at the end, so a finished stage shows its
  total (``lens: 2/2 steps, done in 0:00:01``); it needs no ipywidgets;
- anywhere else (stderr redirected to a file, a pipe, a job scheduler): a plain line every
  ``interval`` seconds while the stage runs and one when it ends, e.g.
  ``vulnerability: 12/31 steps, 0:01:02 elapsed, ~0:01:40 left``. The interval is 30 s,
  or ``$LAYERTRACER_PROGRESS_INTERVAL`` seconds.

The estimate assumes the remaining steps take as long as the finished ones on average.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

INTERVAL_ENV = "LAYERTRACER_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 30.0
NOTEBOOK_REFRESH = 0.5  # seconds between redraws of a stage's line in a notebook


class ConsoleProgress:
    """Shows each stage's count, elapsed and remaining time on stderr (or ``console``).

    Args:
        console: Where to write (default: a rich console on stderr).
        interval: Seconds between plain lines when the console is not a terminal
            (default: ``$LAYERTRACER_PROGRESS_INTERVAL`` or 30).
    """

    def __init__(self, console: Console | None = None, interval: float | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.interval = interval if interval is not None else _interval_from_env()

    @property
    def live(self) -> bool:
        """Whether bars can be redrawn in place (a terminal or a notebook)."""
        return self.console.is_terminal or self.console.is_jupyter

    @contextlib.contextmanager
    def stage(self, name: str, total: int) -> Iterator[Callable[[], None]]:
        """A bar (terminal), a line redrawn in place (notebook) or timed plain lines
        (anything else) for one stage."""
        manager = self._bar if self.console.is_terminal else self._lines
        if self.console.is_jupyter:
            manager = self._cell
        with manager(name, total) as step:
            yield step

    @contextlib.contextmanager
    def _bar(self, name: str, total: int) -> Iterator[Callable[[], None]]:
        columns = (
            TextColumn(f"{name:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("elapsed,"),
            TimeRemainingColumn(),
            TextColumn("left"),
        )
        with Progress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task(name, total=total)
            yield lambda: bar.advance(task)

    @contextlib.contextmanager
    def _cell(self, name: str, total: int) -> Iterator[Callable[[], None]]:
        """The stage's line as one display of the running cell, updated in place."""
        from IPython.display import Pretty, display  # in a notebook, IPython is running

        counter = _Counter(name, total)
        handle = display(Pretty(counter.line()), display_id=True)
        shown = time.monotonic()

        def step() -> None:
            nonlocal shown
            counter.step()
            if time.monotonic() - shown >= NOTEBOOK_REFRESH:
                handle.update(Pretty(counter.line()))
                shown = time.monotonic()

        try:
            yield step
        except BaseException:
            handle.update(Pretty(counter.line(stopped=True)))
            raise
        handle.update(Pretty(counter.line(done=True)))

    @contextlib.contextmanager
    def _lines(self, name: str, total: int) -> Iterator[Callable[[], None]]:
        counter = _Counter(name, total)
        stop = threading.Event()
        lock = threading.Lock()

        def write(text: str) -> None:
            with lock:
                print(text, file=self.console.file, flush=True)

        def tick() -> None:
            while not stop.wait(self.interval):
                write(counter.line())

        timer = threading.Thread(target=tick, name=f"progress-{name}", daemon=True)
        timer.start()
        try:
            yield counter.step
        finally:
            stop.set()
            timer.join()
        write(counter.line(done=True))


class _Counter:
    """Steps done of one stage, and its progress line."""

    def __init__(self, name: str, total: int) -> None:
        self.name, self.total, self.done = name, total, 0
        self.start = time.monotonic()

    def step(self) -> None:
        self.done += 1

    def line(self, done: bool = False, stopped: bool = False) -> str:
        """``name: done/total steps, elapsed, ~left`` (``done in`` at the end, ``stopped
        after`` when the stage raised)."""
        elapsed = time.monotonic() - self.start
        head = f"{self.name}: {self.done}/{self.total} steps"
        if done or stopped:
            return f"{head}, {'done in' if done else 'stopped after'} {clock(elapsed)}"
        return f"{head}, {clock(elapsed)} elapsed, {remaining(elapsed, self.done, self.total)}"


def remaining(elapsed: float, done: int, total: int) -> str:
    """``~0:01:40 left`` from the mean time per finished step; unknown before the first."""
    if done <= 0:
        return "time left unknown"
    return f"~{clock(elapsed / done * max(total - done, 0))} left"


def clock(seconds: float) -> str:
    """Seconds as ``H:MM:SS``."""
    return str(timedelta(seconds=round(seconds)))


def _interval_from_env() -> float:
    value = os.environ.get(INTERVAL_ENV, "")
    try:
        return float(value) if float(value) > 0 else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL
