"""Tests for layertracer.methods.full_target: teacher-forced log-prob of the whole answer."""

from __future__ import annotations

import math

import pytest
import torch

from layertracer.config import InputConfig, RunConfig
from layertracer.errors import ConfigError
from layertracer.pipeline import trace
from layertracer.tasks import Task, TaskItem
from tests.conftest import tiny

TASK = Task(
    "multi",
    "test",
    (
        TaskItem("a", "The capital of France is", " Paris, the city of light"),
        TaskItem("b", "Once upon a", " time"),
        TaskItem("c", "One, two, three, four, five, six, seven,", " eight nine ten"),
        TaskItem("d", "The opposite of hot is", " cold"),
    ),
)


def _config(batch_size: int) -> RunConfig:
    return RunConfig(
        model="tiny:llama",
        task="multi",
        methods=("lens", "particles"),
        batch_size=batch_size,
        inputs=InputConfig(full_target=True),
    )


def _own_logprob(lm: object, prompt_ids: list[int], answer_ids: list[int]) -> float:
    """The model's teacher-forced log-prob of the answer, from one plain forward."""
    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.inference_mode():
        logits = lm.model(input_ids=ids, use_cache=False).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1)
    start = len(prompt_ids) - 1
    return sum(float(logprobs[start + j, tok]) for j, tok in enumerate(answer_ids))


def test_last_layer_equals_the_models_own_teacher_forced_logprob() -> None:
    lm = tiny("llama")
    results = trace(lm, TASK, _config(batch_size=4))
    L = results.model["num_layers"]
    assert results.lens["answer_logprob_max_abs_err"] <= 1e-4
    for item, row in zip(TASK.items, results.prompts, strict=True):
        prompt = lm.tokenizer(item.prompt)["input_ids"]
        answer = lm.tokenizer(item.prompt + item.target)["input_ids"][len(prompt) :]
        assert row["answer_tokens"] == len(answer)
        assert len(row["answer_logprob"]) == L + 1
        assert all(v <= 0 for v in row["answer_logprob"])
        assert row["answer_logprob"][L] == pytest.approx(_own_logprob(lm, prompt, answer), abs=1e-4)
    assert any(row["answer_tokens"] > 1 for row in results.prompts)


def test_batch_equals_one_by_one() -> None:
    lm = tiny("llama")
    together = trace(lm, TASK, _config(batch_size=4)).prompts
    alone = trace(lm, TASK, _config(batch_size=1)).prompts
    for a, b in zip(together, alone, strict=True):
        assert a["answer_logprob"] == pytest.approx(b["answer_logprob"], abs=1e-5)


def test_one_token_answer_is_the_log_of_the_target_probability() -> None:
    results = trace(tiny("llama"), TASK, _config(batch_size=2))
    assert any(row["answer_tokens"] == 1 for row in results.prompts)
    for row in results.prompts:
        if row["answer_tokens"] == 1:
            expected = [math.log(p) for p in row["target_prob"]]
            assert row["answer_logprob"] == pytest.approx(expected, abs=1e-4)


def test_off_by_default_and_needs_the_lens() -> None:
    results = trace(tiny("llama"), TASK, RunConfig(task="multi", methods=("lens",)))
    assert "answer_logprob" not in results.prompts[0]
    with pytest.raises(ConfigError, match="--full-target"):
        RunConfig(methods=("vulnerability",), inputs=InputConfig(full_target=True))


def _greedy(lm: object, prompt_ids: list[int], steps: int) -> list[int]:
    """The model's greedy continuation of ``steps`` tokens, one plain forward per token."""
    ids = list(prompt_ids)
    with torch.inference_mode():
        for _ in range(steps):
            logits = lm.model(input_ids=torch.tensor([ids]), use_cache=False).logits
            ids.append(int(logits[0, -1].argmax()))
    return ids[len(prompt_ids) :]


def _own_answer(lm: object, prompts: list[str]) -> TaskItem:
    """An item whose target is the model's own greedy 2-token continuation (the first
    prompt whose continuation survives decoding and re-encoding)."""
    for prompt in prompts:
        ids = lm.tokenizer(prompt)["input_ids"]
        greedy = _greedy(lm, ids, 2)
        text = lm.tokenizer.decode(greedy)
        if lm.tokenizer(prompt + text)["input_ids"][len(ids) :] == greedy:
            return TaskItem("own", prompt, text)
    raise AssertionError("no greedy continuation round-trips")


def test_full_answer_accuracy_is_greedy_decoding_of_the_whole_answer() -> None:
    lm = tiny("llama")
    items = (*TASK.items, _own_answer(lm, [it.prompt for it in TASK.items]))
    results = trace(lm, Task("multi", "test", items), _config(batch_size=2))
    for item, row in zip(items, results.prompts, strict=True):
        prompt_ids = lm.tokenizer(item.prompt)["input_ids"]
        answer = lm.tokenizer(item.prompt + item.target)["input_ids"][len(prompt_ids) :]
        expected = _greedy(lm, prompt_ids, len(answer)) == answer
        assert row["answer_correct"] == expected, item.id
        if row["answer_tokens"] == 1:
            assert row["answer_correct"] == row["correct"]
    assert results.prompts[-1]["answer_correct"] is True
    wanted = sum(r["answer_correct"] for r in results.prompts) / len(items)
    assert results.answer_accuracy == pytest.approx(wanted) and 0 < wanted < 1
