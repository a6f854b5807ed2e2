"""Tiny random models of any ``model_type`` (``tiny:<model_type>``), and the architectures
every test run checks end to end.

:mod:`.build` builds the model (with the bundled offline tokenizer), :mod:`.shrink` shrinks
the default config by key name.
"""

from __future__ import annotations

from layertracer.model.load import LoadedModel, wrap
from layertracer.model.tiny.build import build_tiny

# The types every test run checks end to end (lens exact, replay exact, JS finite,
# batch == one-by-one): the families people use, every block kind layertracer names.
MUST_PASS = (
    "llama", "gpt2", "gpt_neox", "phi3", "gemma2", "gemma3_text", "cohere", "granite", "qwen2",
    "qwen3", "qwen3_moe", "mixtral", "olmo2", "mamba", "mamba2", "falcon_mamba", "jamba",
    "bamba", "zamba2", "falcon_h1", "qwen3_next", "qwen3_5", "lfm2", "recurrent_gemma", "rwkv",
)  # fmt: skip

# Output transforms hide under near-zero logits with default tiny configs; these make a
# missing transform show (identity is off by nats then).
TRANSFORM_OVERRIDES = {
    "gemma2": {"final_logit_softcapping": 2.0},
    "granite": {"logits_scaling": 4.0},
    "cohere": {"logit_scale": 4.0},
}


def checking_model(model_type: str, seed: int = 0) -> LoadedModel:
    """A tiny random model with a large init (``initializer_range`` 0.2) and the transform
    overrides above, so that a wrong lens or a missed output transform shows."""
    overrides = {"initializer_range": 0.2, **TRANSFORM_OVERRIDES.get(model_type, {})}
    model, tokenizer = build_tiny(model_type, seed=seed, overrides=overrides)
    return wrap(model, tokenizer, f"tiny:{model_type}")


__all__ = ["MUST_PASS", "TRANSFORM_OVERRIDES", "build_tiny", "checking_model"]
