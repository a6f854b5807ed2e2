"""Model specs resolve or fail with a clear ModelError."""

from __future__ import annotations

import pytest
import torch

from layertracer.errors import ConfigError, ModelError
from layertracer.model.load import load_model, resolve_device


def test_tiny_spec_builds_eval_model_without_grads() -> None:
    lm = load_model("tiny:gpt2", device="cpu")
    assert lm.model_type == "gpt2" and not lm.model.training
    assert not any(p.requires_grad for p in lm.model.parameters())
    assert lm.tokenizer.padding_side == "right" and lm.tokenizer.pad_token is not None


def test_dtype_is_applied() -> None:
    assert (
        next(load_model("tiny:llama", "cpu", "bfloat16").model.parameters()).dtype == torch.bfloat16
    )


@pytest.mark.parametrize("spec", ["tiny:no_such_type", "/no/such/dir", "missing.gguf"])
def test_unknown_specs_raise_model_error(spec: str) -> None:
    with pytest.raises(ModelError):
        load_model(spec, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        resolve_device("cuda")
