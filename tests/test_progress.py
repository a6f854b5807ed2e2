"""Tests for layertracer.cli.progress: count, elapsed and remaining time per stage; plain
timed lines when the output is not a terminal."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console

from layertracer.cli.progress import ConsoleProgress, clock, remaining

LINE = re.compile(r"^work: (\d+)/4 steps, 0:00:\d\d elapsed, (~0:00:\d\d left|time left unknown)$")


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, force_jupyter=False, width=100), buffer


def test_plain_lines_while_a_stage_runs_and_at_its_end() -> None:
    console, buffer = _console(terminal=False)
    progress = ConsoleProgress(console, interval=0.05)
    assert not progress.live
    with progress.stage("work", 4) as step:
        for _ in range(4):
            time.sleep(0.12)  # several intervals per step
            step()
    lines = buffer.getvalue().splitlines()
    assert lines[-1].startswith("work: 4/4 steps, done in 0:00:0")
    during = lines[:-1]
    assert len(during) >= 4 and all(LINE.match(line) for line in during), lines
    counts = [int(LINE.match(line)[1]) for line in during]
    assert counts == sorted(counts) and counts[-1] >= 3


def test_a_terminal_gets_a_bar_with_elapsed_and_remaining_time() -> None:
    console, buffer = _console(terminal=True)
    progress = ConsoleProgress(console, interval=0.05)
    assert progress.live
    with progress.stage("work", 3) as step:
        for _ in range(3):
            step()
    text = buffer.getvalue()
    assert "work" in text and "3/3" in text and "elapsed," in text and "left" in text
    assert "steps," not in text  # no plain lines on a terminal


def test_remaining_time_from_the_mean_step() -> None:
    assert remaining(62.0, 12, 31) == "~0:01:38 left"
    assert remaining(5.0, 0, 31) == "time left unknown"
    assert remaining(5.0, 40, 31) == "~0:00:00 left"
    assert clock(3723.4) == "1:02:03"


def test_interval_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("LAYERTRACER_PROGRESS_INTERVAL", "2.5")
    assert ConsoleProgress(Console(file=io.StringIO())).interval == 2.5
    monkeypatch.setenv("LAYERTRACER_PROGRESS_INTERVAL", "soon")
    assert ConsoleProgress(Console(file=io.StringIO())).interval == 30.0
