"""Subject spans in tokens (offsets == prefixes, last occurrence, fallback) and ROME's
position categories."""

from __future__ import annotations

import numpy as np
import pytest

from layertracer.methods.subjects import CATEGORIES, Span, aligned_map, categories, subject_span
from layertracer.tasks import few_shot, load_task
from tests.conftest import tiny


@pytest.mark.parametrize("use_offsets", [True, False])
def test_span_covers_exactly_the_subject(use_offsets: bool) -> None:
    tok = tiny("llama").tokenizer
    for item in load_task("capitals").items[:40]:
        ids = tok(item.prompt)["input_ids"]
        span = subject_span(tok, item.prompt, item.subject, ids, use_offsets=use_offsets)
        assert span.found and 0 <= span.start < span.end < len(ids)
        text = tok.decode(ids[span.start : span.end])
        assert item.subject in text and len(text) <= len(item.subject) + 1  # + a leading space


def test_offsets_and_prefixes_agree_and_the_last_occurrence_is_used() -> None:
    tok = tiny("llama").tokenizer
    task = few_shot(load_task("capitals", max_items=30), shots=2)
    for item in task.items:
        ids = tok(item.prompt)["input_ids"]
        by_offsets = subject_span(tok, item.prompt, item.subject, ids)
        assert by_offsets == subject_span(tok, item.prompt, item.subject, ids, use_offsets=False)
        question = tok(item.prompt[: item.prompt.rindex("\n") + 1])["input_ids"]
        assert by_offsets.start >= len(question) - 1  # in the real question, not a demo
    prompt = "France is big. The capital of France is"
    ids = tok(prompt)["input_ids"]
    for use_offsets in (True, False):
        span = subject_span(tok, prompt, "France", ids, use_offsets=use_offsets)
        assert span.start > len(tok("France is big.")["input_ids"])


def test_without_a_subject_every_token_but_the_last_and_the_specials_is_corrupted() -> None:
    tok = tiny("llama").tokenizer
    ids = tok("The capital of France is")["input_ids"]
    assert ids[0] == tok.bos_token_id
    for subject in (None, "", "Spain"):
        assert subject_span(tok, "The capital of France is", subject, ids) == Span(
            1, len(ids) - 1, False
        )
    assert subject_span(tok, "a", None, [tok.bos_token_id, 7]) == Span(1, 2, False)


def test_categories_partition_the_prompt_as_rome_does() -> None:
    cats = dict(zip(CATEGORIES, categories(Span(2, 5, True), 9), strict=True))
    assert cats == {
        "before subject": [0, 1],
        "first subject token": [2],
        "middle subject tokens": [3],
        "last subject token": [4],
        "first subsequent token": [5],
        "further tokens": [6, 7],
        "last token": [8],
    }
    one = dict(zip(CATEGORIES, categories(Span(1, 2, True), 3), strict=True))
    assert one["first subject token"] == one["last subject token"] == [1]
    assert one["middle subject tokens"] == one["first subsequent token"] == []


def test_aligned_map_averages_each_category_over_prompts() -> None:
    grid = np.arange(9 * 3, dtype=float).reshape(9, 3)  # [T, L+1]
    out = aligned_map({0: grid.tolist(), 1: (2 * grid[:4]).tolist()}, {0: Span(2, 5, True),
                      1: Span(1, 2, True)})  # fmt: skip
    effect = dict(zip(out["categories"], out["effect"], strict=True))
    assert effect["further tokens"] == grid[6:8].mean(0).tolist()  # prompt 0 only
    assert effect["last token"] == ((grid[8] + 2 * grid[3]) / 2).tolist()
    assert effect["first subject token"] == ((grid[2] + 2 * grid[1]) / 2).tolist()
    assert out["counts"][CATEGORIES.index("further tokens")] == 1 and out["prompts"] == 2
