"""Shared fixtures: tiny random models of any architecture, and a small task.

Nothing here touches the network: the hub is forced offline.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import functools

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
