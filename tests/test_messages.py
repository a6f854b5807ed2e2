"""Tests for layertracer.cli.messages: library messages held back and counted, layertracer's
own notes shown."""

from __future__ import annotations

import io
import logging
import warnings

import pytest
from rich.console import Console
from transformers.utils import logging as hf_logging

from layertracer.cli.messages import hidden_note, library_messages, show_own_logs


@pytest.fixture(autouse=True)
def transformers_warns():
    """transformers at its default verbosity (tests/conftest.py sets it to errors only)."""
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()
    yield
    hf_logging.set_verbosity(level)


def _speak() -> None:
    """What libraries do during a run: log, warn, draw a transformers bar."""
    hf_logging.get_logger("transformers.models.x").warning("kernel falls back")
    logging.getLogger("somelib").warning("somelib says %s", "hi")
    warnings.warn("a library warning", UserWarning, stacklevel=1)
    for _ in hf_logging.tqdm(range(3), desc="Loading weights"):
        pass


def test_library_messages_are_held_back_and_counted(capfd) -> None:
    handlers = logging.getLogger("transformers").handlers[:]
    with library_messages() as hidden:
        _speak()
    assert capfd.readouterr().err == ""
    assert hidden == [
        "[transformers.models.x] kernel falls back",
        "[somelib] somelib says hi",
        "[transformers] progress bar: Loading weights",
        "UserWarning: a library warning",
    ]
    assert logging.getLogger("transformers").handlers == handlers  # restored
    assert hidden_note(hidden) == "note: 4 library messages hidden (-v to show)"
    assert hidden_note(hidden[:1]) == "note: 1 library message hidden (-v to show)"
    assert hidden_note([]) is None


def test_a_propagating_library_logger_is_held_back_once() -> None:
    """With $CI set, transformers' logger keeps its handler and also propagates to root:
    its records must be neither printed nor counted twice."""
    hf_root = logging.getLogger("transformers")
    printed = io.StringIO()
    own = logging.StreamHandler(printed)
    saved = hf_root.handlers[:], hf_root.propagate
    hf_root.handlers, hf_root.propagate = [own], True
    try:
        with library_messages() as hidden:
            hf_logging.get_logger("transformers.models.x").warning("kernel falls back")
        assert hf_root.handlers == [own] and hf_root.propagate is True  # restored
    finally:
        hf_root.handlers, hf_root.propagate = saved
    assert printed.getvalue() == ""
    assert hidden == ["[transformers.models.x] kernel falls back"]


def test_verbose_lets_them_through(capfd) -> None:
    handlers = logging.getLogger("transformers").handlers[:]
    with library_messages(show=True) as hidden, warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert logging.getLogger("transformers").handlers == handlers  # its own, printing
        _speak()
    assert hidden == [] and len(seen) == 1
    assert "Loading weights" in capfd.readouterr().err


def test_own_notes_are_shown_not_hidden() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=60, force_terminal=False)
    with show_own_logs(console), library_messages() as hidden:
        logging.getLogger("layertracer").info("first use of x: converting y in %s", "/c/" * 30)
        logging.getLogger("layertracer").debug("not shown")
    text = buffer.getvalue()
    assert text.startswith("note: first use of x: converting y in /c//c/") and "\n" not in text[:-1]
    assert "not shown" not in text and hidden == []
