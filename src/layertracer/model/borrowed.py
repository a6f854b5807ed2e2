"""A model the caller already holds (a notebook's ``transformers`` model and tokenizer),
lent to one run and handed back as it was.

:func:`layertracer.model.load.wrap` readies a model for analysis by changing it (eval mode,
gradients off, right padding, a pad token); :func:`borrowed` undoes those changes when the
run ends, so that ``trace(model, items, tokenizer=tok)`` leaves a model being trained or a
tokenizer padding on the left exactly as it found them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import torch

from layertracer.config import DTYPES, RunConfig
from layertracer.errors import ConfigError
from layertracer.model.load import LoadedModel, input_device, model_dtype, wrap

DEFAULT_DTYPE = RunConfig.dtype  # a dtype left at its default follows the model given


def model_spec(model: object, tokenizer: Any = None) -> str:
    """The spec a run records for ``trace``'s ``model`` argument.

    Args:
        model: A spec string, a :class:`LoadedModel`, or a loaded ``transformers`` model
            (``PreTrainedModel``), which needs ``tokenizer``.
        tokenizer: The tokenizer of a loaded ``transformers`` model; None otherwise.

    Returns:
        The spec string, ``LoadedModel.spec``, or ``<loaded LlamaForCausalLM>`` (with
        ``: <name_or_path>`` when the model knows where it was loaded from).

    Raises:
        ConfigError: A loaded model without a tokenizer, a tokenizer with a spec or a
            ``LoadedModel``, or a ``model`` that is none of these.
    """
    if isinstance(model, (str, LoadedModel)):
        if tokenizer is not None:
            raise ConfigError(
                "tokenizer= is only for a loaded transformers model; a model spec or a "
                "LoadedModel brings its own tokenizer"
            )
        return model if isinstance(model, str) else model.spec
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
        raise ConfigError(
            "model must be a spec string, a LoadedModel or a loaded transformers model "
            f"(PreTrainedModel); got {type(model).__name__}"
        )
    if tokenizer is None:
        raise ConfigError(
            f"a loaded {type(model).__name__} needs its tokenizer: "
            "trace(model, task, tokenizer=tokenizer)"
        )
    origin = str(getattr(model.config, "_name_or_path", "") or "")
    return f"<loaded {type(model).__name__}{': ' + origin if origin else ''}>"


@contextlib.contextmanager
def borrowed(model: torch.nn.Module, tokenizer: Any, spec: str) -> Iterator[LoadedModel]:
    """``model`` and ``tokenizer`` wrapped for a run (:func:`wrap`); on the way out the
    model's training mode and gradient flags and the tokenizer's padding side and pad
    token are restored."""
    training = model.training
    grads = [p.requires_grad for p in model.parameters()]
    side = getattr(tokenizer, "padding_side", None)
    pad = getattr(tokenizer, "pad_token", None)
    try:
        yield wrap(model, tokenizer, spec)
    finally:
        model.train(training)
        for param, flag in zip(model.parameters(), grads, strict=True):
            param.requires_grad_(flag)
        if side is not None:
            tokenizer.padding_side = side
        if pad is None and getattr(tokenizer, "pad_token", None) is not None:
            tokenizer.pad_token = None


def as_given(config: RunConfig, lm: LoadedModel) -> RunConfig:
    """``config`` for a model the caller loaded: its ``dtype`` is the model's own (what
    the run records); a ``dtype`` or ``device`` asked for that the model is not in is
    refused, since a lent model is never converted or moved.

    Raises:
        ConfigError: ``dtype`` other than the default and the model's, or a ``device``
            other than ``auto`` and the model's.
    """
    actual, device = model_dtype(lm.model), input_device(lm.model).type
    if config.dtype not in (actual, DEFAULT_DTYPE):
        raise ConfigError(
            f"dtype={config.dtype!r} does not apply to a model already loaded, which is "
            f"{actual}: convert it first (model.to(torch.{config.dtype})) or leave dtype out"
        )
    if config.device not in ("auto", device):
        raise ConfigError(
            f"device={config.device!r} does not apply to a model already loaded, which is on "
            f"{device}: move it first (model.to({config.device!r})) or leave device out"
        )
    return dataclasses.replace(config, dtype=actual if actual in DTYPES else config.dtype)
