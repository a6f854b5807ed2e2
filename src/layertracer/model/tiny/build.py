"""Tiny, randomly initialised causal LMs of any ``model_type`` (``tiny:<model_type>``).

For tests and the coverage table: the installed ``transformers`` supplies the config
class and the model class; :mod:`layertracer.model.tiny.shrink` shrinks the default config by
key name (hidden 64, 4 layers, vocab 1000, ...), and the model is built seeded, in
float32, in eval mode, with eager attention. Its tokenizer is the small byte-level BPE
bundled in ``layertracer/model/tiny/tokenizer`` (made by ``scripts/make_tiny_tokenizer.py``),
so nothing is downloaded.
"""

from __future__ import annotations

import copy
import difflib
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from layertracer.errors import ModelError
from layertracer.model.tiny.shrink import LAYERS, VOCAB, scale_layer_counts, shrink_config

if TYPE_CHECKING:
    from transformers import PreTrainedModel

TOKENIZER_DIR = Path(__file__).parent / "tokenizer"
# Keys that are not config fields of the class that builds them (a config's serialised
# extras); passing them back to the constructor is harmless but noisy.
_DROP_KEYS = ("transformers_version", "architectures", "_name_or_path", "model_type")


# fmt: off
_ROPE = {"rope_type": "default", "rope_theta": 10000.0}
_QWEN4_INDEXER = {"indexer_n_heads": 4, "indexer_kv_heads": 1, "indexer_head_dim": 16,
                  "indexer_budget": 8, "indexer_compress_ratio": 4}
_DOTS3_MLA = {"qk_nope_head_dim": 16, "qk_rope_head_dim": 16, "head_dim": 32,
              "v_head_dim": 16, "index_head_dim": 16}
TYPE_OVERRIDES: dict[str, dict[str, Any]] = {
    # Hybrid families whose *default* config holds one kind of layer only (key names cannot
    # tell such a default from a plain model's): their tiny model gets both kinds, in the
    # order the other hybrids get (two recurrent/conv layers, then two attention layers).
    "lfm2": {"layer_types": ["conv", "conv", "full_attention", "full_attention"],
             "full_attn_idxs": [2, 3]},  # default: every layer attention
    "lfm2_moe": {"layer_types": ["conv", "conv", "full_attention", "full_attention"]},  # None
    "granitemoehybrid": {"layer_types": ["linear_attention", "linear_attention",
                                         "full_attention", "full_attention"]},  # all Mamba
    # Defaults that transformers cannot build as shipped (ARCHITECTURES.md): fill them in.
    "cohere_compass_text": {"rope_parameters": {"full_attention": _ROPE,
                                                "sliding_attention": _ROPE}},  # {} by default
    "dbrx": {"attn_config": {"kv_n_heads": 2, "rope_theta": 10000.0, "clip_qkv": 8.0,
                             "attn_pdrop": 0.0}},  # attn_config lacks rope_theta; clip None
    "qwen4_exp": _QWEN4_INDEXER, "qwen4_exp_text": _QWEN4_INDEXER,  # indexer_* None
    "dots3_note": _DOTS3_MLA, "dots3_note_text": _DOTS3_MLA,  # SWA head_dim = nope + rope
}
# fmt: on


@functools.lru_cache(maxsize=1)
def _load_tokenizer() -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(TOKENIZER_DIR))


def tiny_tokenizer() -> Any:
    """The bundled 1000-token byte-level BPE tokenizer (a private copy per call).

    It prepends ``<|bos|>`` to every encoding and pads on the right; special ids are
    ``<|bos|>`` 0, ``<|eos|>`` 1, ``<|pad|>`` 2, ``<|unk|>`` 3.

    Returns:
        A ``transformers.PreTrainedTokenizerFast``.
    """
    return copy.deepcopy(_load_tokenizer())


def causal_lm_types() -> list[str]:
    """Every causal-LM ``model_type`` the installed ``transformers`` knows, sorted."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)


def _model_class(model_type: str) -> type[PreTrainedModel]:
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        close = difflib.get_close_matches(model_type, causal_lm_types(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ModelError(
            f"unknown model type for tiny:{model_type}{hint} "
            "(any causal-LM model_type of the installed transformers works)"
        )
    model_cls: type[PreTrainedModel] = getattr(
        transformers, MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type]
    )
    return model_cls


def _default_config(model_type: str, model_cls: type[PreTrainedModel]) -> Any:
    """The default config, or its sub-config when the model class is built from one."""
    from transformers import AutoConfig

    config = AutoConfig.for_model(model_type)
    for name in getattr(config, "sub_configs", {}) or {}:
        sub = getattr(config, name, None)
        if type(sub) is model_cls.config_class and type(config) is not model_cls.config_class:
            return sub
    return config


def tiny_config(model_type: str, overrides: dict[str, Any] | None = None) -> Any:
    """The tiny config of ``model_type``, with ``overrides`` set on its text config.

    Args:
        model_type: A causal-LM ``model_type`` (see :func:`causal_lm_types`).
        overrides: Config attributes set last on the (text) config.

    Returns:
        The config the model class of ``model_type`` is built from (its text sub-config
        where that class takes one), shrunk by :func:`~layertracer.model.tiny.shrink.shrink_config`.

    Raises:
        ModelError: Unknown ``model_type``.
    """
    model_cls = _model_class(model_type)
    config = _default_config(model_type, model_cls)
    tok = _load_tokenizer()
    ids = {
        "bos": tok.bos_token_id,
        "eos": tok.eos_token_id,
        "pad": tok.pad_token_id,
        "unk": tok.unk_token_id,
    }
    small = shrink_config(config.to_dict(), ids)
    text = _text_dict(small, config)
    text.update(TYPE_OVERRIDES.get(model_type, {}))
    text.update(overrides or {})
    for key in _DROP_KEYS:
        small.pop(key, None)
    tiny = type(config)(**small)
    layers = getattr(tiny.get_text_config(), "num_hidden_layers", None)
    if isinstance(layers, int) and layers > LAYERS:  # derived count (longcat: 2 per layer)
        scale_layer_counts(text, LAYERS / layers)
        tiny = type(config)(**small)
    return tiny


def _text_dict(small: dict[str, Any], config: Any) -> dict[str, Any]:
    """The dict inside ``small`` that becomes ``config.get_text_config()``."""
    text = config.get_text_config()
    if text is config:
        return small
    name = next(k for k in config.sub_configs if getattr(config, k, None) is text)
    text_dict: dict[str, Any] = small[name]
    return text_dict


def _instantiate(model_cls: type[PreTrainedModel], config: Any, seed: int) -> torch.nn.Module:
    """Build the model seeded, float32, eager attention where it can be chosen."""
    kwargs = {"attn_implementation": "eager", "experts_implementation": "eager"}
    while True:
        torch.manual_seed(seed)
        try:
            model: torch.nn.Module = model_cls._from_config(config, dtype=torch.float32, **kwargs)
            return model
        except (ValueError, ImportError) as exc:
            dropped = next((k for k in kwargs if kwargs[k] in str(exc) or k in str(exc)), None)
            if dropped is None:
                raise
            kwargs.pop(dropped)


def _reason(exc: Exception) -> str:
    """The gist of an exception on one line (validator errors put it on the second)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]


def build_tiny(
    model_type: str, seed: int = 0, overrides: dict[str, Any] | None = None
) -> tuple[Any, Any]:
    """A tiny, randomly initialised causal LM of ``model_type`` and its tokenizer.

    Args:
        model_type: Any key of ``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES`` (see
            :func:`causal_lm_types`), e.g. ``"llama"``, ``"mamba2"``, ``"qwen3_next"``.
        seed: ``torch.manual_seed`` before construction: same seed, same weights.
        overrides: Config attributes set last on the (text) config, e.g.
            ``{"final_logit_softcapping": 2.0, "initializer_range": 0.2}``.

    Returns:
        ``(model, tokenizer)``: the model in eval mode, float32, with a vocabulary at
        least as large as the tokenizer's 1000 tokens.

    Raises:
        ModelError: ``model_type`` is unknown (the message names the closest valid ones),
            or its tiny version cannot be built.
    """
    model_cls = _model_class(model_type)
    try:
        config = tiny_config(model_type, overrides)
        model = _instantiate(model_cls, config, seed)
    except ModelError:
        raise
    except Exception as exc:  # any failure inside transformers: one clear line
        raise ModelError(f"tiny:{model_type} could not be built: {_reason(exc)}") from exc
    vocab = getattr(config.get_text_config(), "vocab_size", None)
    if isinstance(vocab, int) and vocab < VOCAB:
        raise ModelError(f"tiny:{model_type} could not be built: vocabulary {vocab} < {VOCAB}")
    return model.float().eval(), tiny_tokenizer()
