"""What the libraries print during a run, held back and counted; layertracer's own notes
shown.

``transformers`` draws a "Loading weights" bar on every load and warns when a kernel falls
back to its reference implementation (tiny:mamba: two "is falling back to its reference
PyTorch implementation" lines); other libraries log or warn on their own. The command line
captures all of it while it loads the model and runs (:func:`library_messages`) and then
says, in one line, how many messages it held back (:func:`hidden_note`); ``-v`` lets them
through as they come. Messages of the ``layertracer`` logger are not captured: they are
shown on stderr (:func:`show_own_logs`), e.g. the first load of a bundled model, which
converts its weights and says where it caches them.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape

OWN = "layertracer"


class _Collect(logging.Handler):
    """Keeps every record it gets as one line."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(OWN):
            self.into.append(f"[{record.name}] {record.getMessage()}")


@contextlib.contextmanager
def library_messages(show: bool = False) -> Iterator[list[str]]:
    """Captures library log records (WARNING and up), Python warnings and ``transformers``
    progress bars in the block; yields the list they are collected into.

    Args:
        show: Capture nothing (``-v``): the libraries print as they normally do.
    """
    hidden: list[str] = []
    if show:
        yield hidden
        return
    _configure_transformers_logging()  # its logger gets its own handler on first use
    with _logs(hidden), warnings.catch_warnings(record=True) as caught, _bars(hidden):
        try:
            yield hidden
        finally:
            hidden += [f"{w.category.__name__}: {w.message}" for w in caught]


def _configure_transformers_logging() -> None:
    """Gives ``transformers``' logger its handler now, so that :func:`_logs` replaces it."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.get_logger("transformers")


@contextlib.contextmanager
def _logs(into: list[str]) -> Iterator[None]:
    """Every library logger's handlers (root's included) replaced by one collector for the
    block; those loggers stop propagating, so that each record is collected once.

    ``transformers`` keeps its own handler and does not propagate, except where ``$CI`` is
    set: then it does both, and only replacing its handler keeps its lines off stderr.
    """
    collect = _Collect(into)
    loggers = [logging.getLogger()] + [
        logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and not name.startswith(OWN) and logger.handlers
    ]
    saved = [(logger.handlers[:], logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.handlers, logger.propagate = [collect], False
    try:
        yield
    finally:
        for logger, (handlers, propagate) in zip(loggers, saved, strict=True):
            logger.handlers, logger.propagate = handlers, propagate


@contextlib.contextmanager
def _bars(into: list[str]) -> Iterator[None]:
    """``transformers``' tqdm bars replaced by silent ones, each counted by its title."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return

    def hook(factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        into.append(f"[transformers] progress bar: {kwargs.get('desc') or 'untitled'}")
        return hf_logging.EmptyTqdm(*args, **kwargs)

    previous = hf_logging.set_tqdm_hook(hook)
    try:
        yield
    finally:
        hf_logging.set_tqdm_hook(previous)


def hidden_note(hidden: list[str]) -> str | None:
    """``note: 3 library messages hidden (-v to show)``, or None when there were none."""
    if not hidden:
        return None
    noun = "message" if len(hidden) == 1 else "messages"
    return f"note: {len(hidden)} library {noun} hidden (-v to show)"


class _ConsoleHandler(logging.Handler):
    """Prints ``layertracer`` records on a rich console: ``note:`` / ``warning:`` + text."""

    def __init__(self, console: Console, level: int) -> None:
        super().__init__(level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        label = "note" if record.levelno < logging.WARNING else record.levelname.lower()
        color = "cyan" if record.levelno < logging.WARNING else "yellow"
        text = escape(record.getMessage())
        self.console.print(f"[{color}]{label}:[/{color}] {text}", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def show_own_logs(console: Console, level: int = logging.INFO) -> Iterator[None]:
    """Shows the ``layertracer`` logger's records of ``level`` and up on ``console``."""
    logger = logging.getLogger(OWN)
    handler = _ConsoleHandler(console, level)
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
