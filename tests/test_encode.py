"""The target-token rule uses the model's own tokenizer (docs/method.md#target-token)."""

from __future__ import annotations

import pytest

from layertracer.errors import ConfigError, TaskError
from layertracer.model.tiny.build import tiny_tokenizer
from layertracer.tasks.encode import chat_prompt, encode


def test_target_is_first_new_token_of_prompt_plus_answer() -> None:
    tok = tiny_tokenizer()
    enc = encode(tok, "The capital of France is", " Paris")
    full = tok("The capital of France is Paris")["input_ids"]
    assert list(enc.input_ids) == tok("The capital of France is")["input_ids"]
    assert enc.target_id == full[len(enc.input_ids)]
    assert enc.warning is None and list(enc.answer_ids) == full[len(enc.input_ids) :]


def test_leading_space_matters() -> None:
    tok = tiny_tokenizer()
    with_space = encode(tok, "The capital of France is", " Paris").target_id
    assert with_space == tok(" Paris", add_special_tokens=False)["input_ids"][0]


def test_merge_across_boundary_falls_back_with_warning() -> None:
    tok = tiny_tokenizer()
    prompt, answer = "The capital of France is Par", "is"
    merged = tok(prompt + answer)["input_ids"]
    assert merged[: len(tok(prompt)["input_ids"])] != tok(prompt)["input_ids"], "test needs a merge"
    enc = encode(tok, prompt, answer, "x")
    assert enc.warning and "'x'" in enc.warning
    assert enc.target_id == tok(answer, add_special_tokens=False)["input_ids"][0]


def test_empty_answer_is_an_error() -> None:
    with pytest.raises(TaskError):
        encode(tiny_tokenizer(), "prompt", "")


CHAT = (
    "{% for m in messages %}<|bos|>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def test_chat_prompt_wraps_one_user_turn_without_a_second_bos(monkeypatch) -> None:
    tok = tiny_tokenizer()
    monkeypatch.setattr(tok, "chat_template", CHAT)
    text = chat_prompt(tok, "The capital of France is")
    assert text == "<|bos|>user: The capital of France is\nassistant:"
    enc = encode(tok, text, " Paris", special=False)
    assert enc.input_ids.count(tok.bos_token_id) == 1 and enc.input_ids[0] == tok.bos_token_id
    plain = tok(text + " Paris", add_special_tokens=False)["input_ids"]
    assert enc.target_id == plain[len(enc.input_ids)]  # the method's rule, unchanged


def test_chat_template_missing_is_a_config_error(monkeypatch) -> None:
    tok = tiny_tokenizer()
    monkeypatch.setattr(tok, "chat_template", None)
    with pytest.raises(ConfigError, match="no chat template"):
        chat_prompt(tok, "Hi")
