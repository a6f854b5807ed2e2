"""Shared fixtures: tiny random models of any architecture, and a small task; the closing
list of what was not run and how to run it.

Nothing here touches the network: the hub is forced offline.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import functools
import re
import signal

import pytest

from layertracer.model.load import LoadedModel
from layertracer.model.tiny import checking_model
from layertracer.tasks import Task, TaskItem, load_task


def run_cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """Runs ``layertracer ARGS``; returns (exit code, stdout, stderr)."""
    try:
        from layertracer import cli

        cli.main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@functools.cache
def tiny(model_type: str, seed: int = 0) -> LoadedModel:
    """A cached tiny random model with a large init so output transforms matter."""
    return checking_model(model_type, seed)


@pytest.fixture
def tiny_llama() -> LoadedModel:
    """A tiny random Llama."""
    return tiny("llama")


@pytest.fixture(scope="session")
def small_task() -> Task:
    """Six capitals items of different lengths, with subjects."""
    items = load_task("capitals").items
    longer = TaskItem(
        "long", "Everyone knows that the capital city of France is", " Paris", "France"
    )
    return Task("small", "test", (*items[:5], longer))


# A skip reason names the command that enables the test in parentheses (or in backticks).
COMMAND = re.compile(r"\(((?:pip|apt-get|make|layertracer) [^)]*)\)|`((?:pip|apt-get|make) [^`]*)`")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After the run: what was skipped or deselected, grouped, with the one command that
    enables each group (``make test`` ends with it)."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    deselected = len(terminalreporter.stats.get("deselected", []))
    if not reasons and not deselected:
        return
    terminalreporter.write_sep("-", "not run, and the command that enables it")
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        found = COMMAND.search(reason)
        command = (found[1] or found[2]) if found else "none (see the reason)"
        terminalreporter.write_line(f"{count:4d} skipped: {reason}\n       enable: {command}")
    if deselected:
        terminalreporter.write_line(
            f"{deselected:4d} deselected by -m (slow: real-model runs, sweeps)\n"
            "       enable: make test-all"
        )


def sigint_default() -> None:
    """``preexec_fn`` of a child that a test interrupts with SIGINT: the default handler, so
    that Python raises KeyboardInterrupt in it even when the test suite itself was started
    with SIGINT ignored (a background job of a non-interactive shell, as some CI runners)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
