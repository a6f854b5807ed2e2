"""Resolve a MODEL spec to an eval-mode model and its tokenizer.

Specs: a Hugging Face hub id or local directory, a local ``.gguf`` file, a bundled real
model (``smollm2-135m``, ``gemma3-270m``: :mod:`.bundled`), or ``tiny:<model_type>`` (a
random tiny model).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch

from layertracer.errors import ConfigError, ModelError, first_line
from layertracer.model.bundled import BUNDLED, bundled_dir
from layertracer.model.hf import as_hf
from layertracer.model.native import slow_dtype_warning
from layertracer.model.source import folder_source, gguf_source

DEFAULT_MODEL = "smollm2-135m"
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LoadedModel:
    """A model ready for analysis.

    Attributes:
        model: The causal LM, in eval mode, gradients off.
        tokenizer: Its tokenizer, right padding, with a pad token.
        spec: The spec the user gave.
        model_type: ``config.model_type``.
    """

    model: torch.nn.Module
    tokenizer: Any
    spec: str
    model_type: str


def resolve_device(device: str) -> torch.device:
    """Maps ``auto|cpu|cuda`` to a torch device.

    Raises:
        ConfigError: ``cuda`` was asked for but no GPU is visible.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was given but no CUDA GPU is available")
    return torch.device(device)


def load_model(
    spec: str,
    device: str = "auto",
    dtype: str = "float32",
    trust_remote_code: bool = False,
    device_map: str | None = None,
) -> LoadedModel:
    """Loads the model named by ``spec``.

    Args:
        spec: Model spec (see module docstring).
        device: ``auto``, ``cpu`` or ``cuda`` (or ``cuda:N``); ignored with ``device_map``.
        dtype: ``float32``, ``bfloat16`` or ``float16``.
        trust_remote_code: Allow hub model code to run.
        device_map: ``auto``: spread the blocks over the GPUs and offload what does not fit
            to the CPU (``accelerate``); every block then runs on its own device.

    Returns:
        The loaded model and tokenizer. A half-precision dtype that this CPU emulates
        is warned about (:mod:`layertracer.model.native`).

    Raises:
        ModelError: The spec names nothing loadable.
        ConfigError: Bad device or dtype.
    """
    torch_device = resolve_device(device)
    if dtype not in _DTYPES:
        raise ConfigError(f"--dtype must be one of {', '.join(_DTYPES)}; got {dtype!r}")
    if spec.startswith("tiny:"):
        from layertracer.model.tiny.build import build_tiny

        model, tokenizer = build_tiny(spec.removeprefix("tiny:"))
    else:
        model, tokenizer = _load_pretrained(spec, _DTYPES[dtype], trust_remote_code, device_map)
    if device_map is None:
        model = model.to(device=torch_device, dtype=_DTYPES[dtype])
    elif not hasattr(model, "hf_device_map"):  # built here (tiny): dispatch it now
        model = dispatch(model.to(_DTYPES[dtype]), device_map)
    slow_dtype_warning(input_device(model), _DTYPES[dtype])
    return wrap(model, tokenizer, spec)


def dispatch(model: torch.nn.Module, device_map: str | dict[str, Any]) -> torch.nn.Module:
    """Places ``model`` by an ``accelerate`` device map (``auto`` is inferred from the free
    memory of every GPU and the CPU, never splitting a block)."""
    from accelerate import dispatch_model, infer_auto_device_map

    if isinstance(device_map, str):
        no_split = list(getattr(model, "_no_split_modules", None) or [])
        device_map = infer_auto_device_map(model, no_split_module_classes=no_split)
    placed: torch.nn.Module = dispatch_model(model, device_map=device_map)
    return placed


def input_device(model: torch.nn.Module) -> torch.device:
    """Where a model's inputs go: its input embedding's execution device under an
    ``accelerate`` map, else the device of its first parameter (the CPU for ``meta``)."""
    embedding = (
        as_hf(model).get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    )
    hook = getattr(embedding, "_hf_hook", None)
    for h in [*getattr(hook, "hooks", ()), hook]:
        device = getattr(h, "execution_device", None)
        if device is not None:
            return torch.device(device)
    params = embedding.parameters() if embedding is not None else model.parameters()
    device = next(params, torch.empty(0)).device
    return torch.device("cpu") if device.type == "meta" else device


def wrap(model: torch.nn.Module, tokenizer: Any, spec: str) -> LoadedModel:
    """Readies an already built model for analysis: eval mode, no gradients, right padding."""
    model.eval()
    model.requires_grad_(False)
    _prepare_tokenizer(tokenizer)
    return LoadedModel(model, tokenizer, spec, str(as_hf(model).config.model_type))


def _load_pretrained(
    spec: str, dtype: torch.dtype, trust: bool, device_map: str | None = None
) -> tuple[torch.nn.Module, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any]
    if spec in BUNDLED:
        directory, kwargs = str(bundled_dir(spec)), {}
    elif spec.endswith(".gguf"):
        directory, kwargs = gguf_source(spec)
    else:
        directory, kwargs = folder_source(spec)
    loading = {"device_map": device_map} if device_map else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=trust, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            directory, dtype=dtype, trust_remote_code=trust, **kwargs, **loading
        )
    except Exception as exc:  # whatever transformers raises on these files: one line
        raise ModelError(
            f"cannot load model {spec!r}: {type(exc).__name__}: {first_line(exc)[:200]}"
        ) from None
    return model, tokenizer


def model_dtype(model: torch.nn.Module) -> str:
    """The dtype of most of a model's floating-point weights, e.g. ``bfloat16``."""
    counts = Counter(p.dtype for p in model.parameters() if p.is_floating_point())
    return str(counts.most_common(1)[0][0]).removeprefix("torch.") if counts else "float32"


def _prepare_tokenizer(tokenizer: Any) -> None:
    """Right padding, padding with the pad, else eos, else unk token; never a new token
    (its id would have no row in the model's embedding).

    Raises:
        ModelError: None of the three (before anything is changed).
    """
    if all(getattr(tokenizer, t, None) is None for t in ("pad_token", "eos_token", "unk_token")):
        raise ModelError(
            "the tokenizer has no pad, eos or unk token to pad batches with: set one of its "
            "own tokens first, e.g. tokenizer.pad_token = tokenizer.convert_ids_to_tokens(0)"
        )
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
