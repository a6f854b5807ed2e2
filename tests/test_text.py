"""Tests for layertracer.tasks.text: text mode, next-token prediction at every position."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from layertracer.config import InputConfig, RunConfig
from layertracer.errors import ConfigError, TaskError
from layertracer.model.capture import capture_blocks, forward
from layertracer.model.lens import lens_logprobs
from layertracer.pipeline import trace
from layertracer.tasks.text import builtin_texts, load_text, special_prefix, text_rows
from tests.conftest import tiny


def test_builtin_sample_is_package_data_with_its_licence() -> None:
    assert "gettysburg" in builtin_texts()
    sample = load_text("builtin:gettysburg")
    assert sample.text.startswith("Four score and seven years ago")
    assert sample.text.rstrip().endswith("shall not perish from the earth.")
    assert sample.name == "gettysburg" and sample.source == "builtin:gettysburg"
    readme = Path(__file__).parents[1] / "src/layertracer/tasks/data/text/README.md"
    assert "public domain" in readme.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "no such file"), (b"", "empty"), (b"ok\n\xff\n", ":2: not UTF-8")],
)
def test_bad_text_files(tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "t.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TaskError, match=expected):
        load_text(str(path))
    with pytest.raises(TaskError, match="built-in: gettysburg"):
        load_text("builtin:nope")


def test_rows_are_prefixes_of_windows_built_from_ids() -> None:
    tokenizer = tiny("llama").tokenizer
    sample = load_text("builtin:gettysburg")
    ids = tokenizer(sample.text, add_special_tokens=False)["input_ids"]
    prefix = special_prefix(tokenizer)
    assert prefix == [tokenizer.bos_token_id]
    window = 8
    task, encoded = text_rows(sample, tokenizer, window)
    windows = [ids[s : s + window] for s in range(0, len(ids), window)]
    assert len(encoded) == sum(len(w) - 1 for w in windows) == len(task.items)
    for item, enc in zip(task.items, encoded, strict=True):
        k, t = (int(x[1:]) for x in item.id.split(":"))
        assert enc.input_ids == tuple(prefix + windows[k][:t])
        assert enc.target_id == windows[k][t] and enc.answer_ids == (enc.target_id,)
        assert item.subject is None and item.suite == "gettysburg"
    short, _ = text_rows(sample, tokenizer, window, max_rows=5)
    assert [it.id for it in short.items] == ["w0:p1", "w0:p2", "w0:p3", "w0:p4", "w0:p5"]


def test_text_mode_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="not both"):
        RunConfig(task="capitals", inputs=InputConfig(text="builtin:gettysburg"))
    text_mode = RunConfig(inputs=InputConfig(text="builtin:gettysburg"))  # no default task
    assert text_mode.task is None and RunConfig().task == "capitals"
    with pytest.raises(ConfigError, match="--shots"):
        RunConfig(task=None, shots=1, inputs=InputConfig(text="builtin:gettysburg"))
    with pytest.raises(ConfigError, match="--text-window"):
        InputConfig(text="x", text_window=1)
    with pytest.raises(ConfigError, match="--chat-template"):
        InputConfig(text="x", chat_template=True)


def test_each_row_equals_one_position_of_a_whole_window_pass() -> None:
    """Causality: row (w, t) reads what position t-1 of the full window reads."""
    lm = tiny("llama")
    window = 6
    config = RunConfig(
        model="tiny:llama",
        task=None,
        methods=("lens", "particles"),
        inputs=InputConfig(text="builtin:gettysburg", text_window=window),
        max_prompts=window - 1,
        batch_size=3,
    )
    results = trace(lm, None, config)
    assert results.task["mode"] == "text" and len(results.prompts) == window - 1
    assert set(results.suites) == {"gettysburg"}
    from layertracer.model.anatomy import discover

    anatomy = discover(lm.model, lm.tokenizer)
    ids = [lm.tokenizer.bos_token_id, *lm.tokenizer(load_text("builtin:gettysburg").text,
           add_special_tokens=False)["input_ids"][:window]]  # fmt: skip
    with torch.inference_mode(), capture_blocks(anatomy.blocks, anatomy.slot, False) as cap:
        forward(lm.model, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
    states = cap.states()
    for row in results.prompts:
        t = int(row["id"].split(":p")[1])
        expected = [
            float(lens_logprobs(anatomy, s[0, t : t + 1])[0, ids[t + 1]].exp()) for s in states
        ]
        assert row["target_prob"] == pytest.approx(expected, abs=1e-5)
        assert row["subject"] is None
