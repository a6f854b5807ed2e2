"""Every ```python block of README.md runs as written, with one substitution so that it is
fast and offline: a tiny random Llama stands in for SmolLM2 (the spec ``"smollm2-135m"``
becomes ``"tiny:llama"``, and ``bundled_dir("smollm2-135m")`` a folder where the tiny
model and its tokenizer were saved with ``save_pretrained``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from layertracer.model.tiny import checking_model

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)

pytest.importorskip("pandas", reason="pandas is not installed (pip install -e '.[notebook]')")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random Llama saved like a downloaded model: config, weights, tokenizer."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    lm = checking_model("llama")
    lm.model.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return str(folder)


def substitute(code: str) -> str:
    """The block with the tiny model in place of SmolLM2."""
    code = code.replace('bundled_dir("smollm2-135m")', "TINY_FOLDER")
    return code.replace('"smollm2-135m"', '"tiny:llama"')


def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 3
    assert any("tokenizer=tokenizer" in b and 'to_frame("lens")' in b for b in BLOCKS)


def test_a_block_that_runs_the_slow_default_methods_says_so() -> None:
    for block in BLOCKS:
        if "trace(" in block and "methods" not in block:
            assert "the default methods" in block and "vulnerability" in block, block


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int, tiny_folder: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = {"TINY_FOLDER": tiny_folder, "__name__": "readme"}
    exec(compile(substitute(BLOCKS[index]), f"README.md python block {index}", "exec"), namespace)
    for value in namespace.values():  # whatever a block computed is well formed
        if type(value).__name__ == "Results":
            assert value.model.spec in (
                "tiny:llama",
                "<loaded LlamaForCausalLM: " + tiny_folder + ">",
            )
    if "lens" in namespace and hasattr(namespace["lens"], "columns"):
        assert {"id", "layer", "target_prob"} <= set(namespace["lens"].columns)
