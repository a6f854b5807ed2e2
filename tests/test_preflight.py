"""Tests for layertracer.preflight and model.limits: prompts beyond the context and runs
beyond memory stop before any forward pass, with one line."""

from __future__ import annotations

import json

import pytest

from layertracer import RunConfig, trace
from layertracer.config import InputConfig
from layertracer.errors import ConfigError
from layertracer.model import limits
from layertracer.tasks import Task, TaskItem
from tests.conftest import run_cli, tiny

LONG = " ".join(["word"] * 3000) + " The capital of France is"


def _task(*prompts: str) -> Task:
    return Task("t", "test", tuple(TaskItem(f"p{n}", p, " Paris") for n, p in enumerate(prompts)))


def test_context_comes_from_the_config_and_pure_recurrent_models_have_none() -> None:
    gpt2 = tiny("gpt2")
    assert limits.context_length(gpt2.model, ["attention"] * 4) == 1024
    assert limits.context_length(tiny("mamba").model, ["mamba"] * 4) is None
    assert limits.context_length(tiny("rwkv").model, ["rwkv"] * 4) is None  # recurrent


def test_a_prompt_beyond_the_context_is_refused_before_any_forward(monkeypatch) -> None:
    from layertracer import pipeline

    def no_forward(*args, **kwargs):
        raise AssertionError("a forward pass ran")

    monkeypatch.setattr(pipeline, "clean_pass", no_forward)
    with pytest.raises(ConfigError, match=r"1 prompt\(s\) exceed the model's context of 1024 "):
        trace(tiny("gpt2"), _task("The capital of Italy is", LONG), RunConfig(batch_size=2))


def test_truncate_left_keeps_the_last_tokens_and_records_how_many_went() -> None:
    cfg = RunConfig(batch_size=2, methods=("lens",), inputs=InputConfig(truncate="left"))
    results = trace(tiny("gpt2"), _task("The capital of Italy is", LONG), cfg)
    short, long = results.prompts
    assert "truncated" not in short and long["truncated"] > 0
    assert long["num_tokens"] == 1024


def test_the_cli_lists_the_long_prompts_with_their_lengths(tmp_path, capsys) -> None:
    task = tmp_path / "long.jsonl"
    task.write_text(
        "\n".join(
            json.dumps({"id": f"long{n}", "prompt": LONG, "target": " Paris"}) for n in range(7)
        )
    )
    args = ["run", "--model", "tiny:gpt2", "--task", str(task), "--out", str(tmp_path / "out")]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and err.count("\n") == 1
    assert "7 prompt(s) exceed the model's context of 1024 tokens: long0 (" in err
    assert "and 2 more" in err and "--truncate left" in err
    assert not (tmp_path / "out").exists()


def test_a_run_beyond_free_memory_is_refused_with_both_numbers(monkeypatch) -> None:
    from layertracer import preflight

    monkeypatch.setattr(preflight, "available_memory", lambda device: 2**20)  # 1 MiB free
    with pytest.raises(ConfigError, match=r"needs about [\d.]+ GiB .* but 0.0 GiB is free"):
        trace(tiny("llama"), _task("The capital of Italy is"), RunConfig(batch_size=2))
