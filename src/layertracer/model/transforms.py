"""Output transforms a model applies after its unembedding, chosen by matching its output.

Candidates come from config attributes by name (a data table, not model names): soft-capping
``c·tanh(x/c)``, multiplicative scales, divisive scales, width multipliers. Identity wins
unless another candidate is strictly better; no free scale is ever fitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from layertracer.errors import FidelityError

FIDELITY_TOLERANCE = 1e-3  # max |Δ log-prob| allowed at the last layer (float32)

# (substring of a config key, operation). Checked against every numeric config value.
KEY_RULES: tuple[tuple[str, str], ...] = (
    ("softcap", "softcap"),  # gemma2 final_logit_softcapping, recurrent_gemma logits_soft_cap
    ("soft_cap", "softcap"),
    ("logit_scale", "multiply"),  # cohere
    ("lm_head_multiplier", "multiply"),  # falcon_h1
    ("logits_scaling", "divide"),  # granite
    ("output_multiplier", "multiply"),
)
# Width scaling (MiniCPM style): logits of h / (hidden_size / dim_model_base).
WIDTH_RULES: tuple[tuple[str, str], ...] = (("dim_model_base", "hidden_size"),)


@dataclass(frozen=True)
class LogitTransform:
    """A chain of elementwise ops on logits, e.g. ``(("divide", 4.0), ("softcap", 30.0))``.

    Attributes:
        ops: ``(operation, value)`` pairs applied in order.
        source: The config keys they come from.
    """

    ops: tuple[tuple[str, float], ...] = ()
    source: tuple[str, ...] = ()

    @staticmethod
    def identity() -> LogitTransform:
        """The transform that changes nothing."""
        return LogitTransform()

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        for op, value in self.ops:
            if op == "softcap":
                logits = value * torch.tanh(logits / value)
            elif op == "multiply":
                logits = logits * value
            else:
                logits = logits / value
        return logits

    def describe(self) -> str:
        """Human-readable form, e.g. ``softcap(30.0) [final_logit_softcapping]``."""
        if not self.ops:
            return "identity"
        ops = " then ".join(f"{op}({value:g})" for op, value in self.ops)
        return f"{ops} [{', '.join(self.source)}]"


def candidates(config: object) -> list[LogitTransform]:
    """Every transform the config's attributes suggest, singly and scale-then-cap pairs."""
    values = _numeric_items(config)
    singles = [
        LogitTransform(((op, value),), (key,))
        for key, value in values.items()
        for pattern, op in KEY_RULES
        if pattern in key.lower()
    ]
    for base_key, width_key in WIDTH_RULES:
        if base_key in values and width_key in values:
            ratio = values[width_key] / values[base_key]
            singles.append(LogitTransform((("divide", ratio),), (f"{width_key}/{base_key}",)))
    caps = [t for t in singles if t.ops[0][0] == "softcap"]
    scales = [t for t in singles if t.ops[0][0] != "softcap"]
    pairs = [LogitTransform(s.ops + c.ops, s.source + c.source) for s in scales for c in caps]
    return [LogitTransform.identity(), *singles, *pairs]


def fidelity_error(lens_logits: torch.Tensor, model_logits: torch.Tensor) -> float:
    """Max ``|log_softmax(a) - log_softmax(b)|`` in float32; ``inf`` on shape mismatch."""
    if lens_logits.shape != model_logits.shape:
        return float("inf")
    a = torch.log_softmax(lens_logits.float(), dim=-1)
    b = torch.log_softmax(model_logits.float(), dim=-1)
    return float((a - b).abs().max())


def choose_transform(
    config: object, lens_logits: torch.Tensor, model_logits: torch.Tensor, model_type: str
) -> LogitTransform:
    """Picks the candidate that reproduces the model's output; identity unless beaten.

    Args:
        config: The model config.
        lens_logits: ``unembed(final_norm(h_L))`` before any transform. ``[..., vocab]``
        model_logits: The model's own logits for the same positions. ``[..., vocab]``
        model_type: For the error message.

    Raises:
        FidelityError: No candidate is within ``FIDELITY_TOLERANCE``.
    """
    scored = [
        (fidelity_error(t(lens_logits), model_logits), i, t)
        for i, t in enumerate(candidates(config))
    ]
    identity_err = scored[0][0]
    best_err, _, best = min(scored, key=lambda s: (s[0], s[1]))
    if not best_err < identity_err:
        best_err, best = identity_err, scored[0][2]
    if not best_err <= FIDELITY_TOLERANCE:
        raise FidelityError(
            f"logit lens does not reproduce the output of model type {model_type!r}: "
            f"max |Δ log-prob| = {best_err:.3g} > {FIDELITY_TOLERANCE:g}; "
            "no final norm / output transform found by structure explains its logits"
        )
    return best


def _numeric_items(config: object) -> dict[str, float]:
    """Numeric (non-bool, positive) attributes of the config and its text config."""
    dicts = [config.to_dict()] if hasattr(config, "to_dict") else []
    if hasattr(config, "get_text_config"):
        dicts.append(config.get_text_config().to_dict())
    out: dict[str, float] = {}
    for d in dicts:
        for key, value in d.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                out[key] = float(value)
    return out
