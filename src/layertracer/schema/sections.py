"""The typed sections of ``results.json`` (schema 1): one model per section, the same on
write and on read.

Every per-layer array has ``L+1`` entries, layer state 0 first (docs/method.md#layers),
``null`` where a layer does not apply; each says its shape on its field
(:class:`~layertracer.schema.section.Layers`), so that a file whose
arrays do not match its ``model.num_layers`` is refused on read with the path of the first
problem. A key no section declares is refused the same way (a misspelt key is an error).
A section reads like the JSON object too: ``section["js_mean"]``, ``section.get("warning")``.
"""

from __future__ import annotations

from typing import Annotated, Any

from layertracer.schema.methods import (
    AblationSection,
    AgreementPair,
    AgreementSection,
    CKASection,
    ParticlesSection,
    ParticleStats,
    Reliability,
    RemovalCurve,
    RemovalSection,
    SimilaritySection,
    TracingMap,
    TracingSection,
    VulnerabilitySection,
)
from layertracer.schema.section import EACH, LAYERS, ROWS, PerLayer, Section, layer_fields

__all__ = [
    "AblationSection",
    "AgreementPair",
    "AgreementSection",
    "CKASection",
    "LensSection",
    "ModelInfo",
    "ParticleStats",
    "ParticlesSection",
    "PerLayer",
    "PromptRow",
    "Reliability",
    "RemovalCurve",
    "RemovalSection",
    "Section",
    "SimilaritySection",
    "SuiteSummary",
    "TaskInfo",
    "Tool",
    "TracingMap",
    "TracingSection",
    "VulnerabilitySection",
]


class Tool(Section):
    """The program that wrote the file."""

    name: str
    version: str


class ModelInfo(Section):
    """The model and the anatomy found by structure (docs/method.md#anatomy)."""

    spec: str
    model_type: str
    num_layers: int
    hidden_size: int
    layer_types: list[str]
    vocab_size: int | None = None
    num_parameters: int | None = None
    blocks: str | None = None
    residual_slot: int | str | None = None
    final_norm: list[str] = []
    unembed: str | None = None
    logit_transform: str | None = None


class TaskInfo(Section):
    """The task: name, source, size; text mode and chat template when used."""

    name: str
    source: str | None = None
    items: int | None = None
    mode: str | None = None  # "text": one item per position of a text (--text)
    text_window: int | None = None
    chat_template: bool | None = None
    example_input: str | None = None  # the first prompt as the chat template renders it


class LensSection(Section):
    """The lens and its fidelity check (docs/method.md#logit-lens): ``kind`` (``logit`` or
    ``tuned``, docs/method.md#tuned-lens), the ``other`` lens read beside it (``None``:
    none), ``kl_bits`` (held-out ``KL(final ‖ lens)`` per layer in bits, ``{"logit": [L+1],
    "tuned": [L+1]}``, when a tuned lens was used) and the tuned lens's training record."""

    fidelity_max_abs_err: float
    tolerance: float | None = None
    positions: str | None = None
    dtype: str | None = None
    answer_logprob_max_abs_err: float | None = None
    kind: str | None = None
    other: str | None = None
    kl_bits: Annotated[dict[str, PerLayer] | None, EACH] = None
    tuned: dict[str, Any] | None = None


class PromptRow(Section):
    """One prompt: its target token, lens trajectory and every per-prompt measure."""

    id: str
    prompt: str
    target: str
    target_token_id: int
    target_prob: Annotated[PerLayer, LAYERS]
    suite: str | None = None
    subject: str | None = None
    target_token: str | None = None
    num_tokens: int | None = None
    final_prob: float | None = None
    top1_token_id: int | None = None
    top1_token: str | None = None
    correct: bool | None = None
    particle_layer: int | None = None
    particle_layer_other: int | None = None  # under the other lens (lens.other)
    topk: Annotated[list[list[tuple[str, float]]] | None, LAYERS] = None
    answer_logprob: Annotated[PerLayer | None, LAYERS] = None
    answer_tokens: int | None = None
    answer_correct: bool | None = None
    js_mean: Annotated[PerLayer | None, LAYERS] = None
    ablation_drop: Annotated[PerLayer | None, LAYERS] = None
    ablation_correct: Annotated[list[bool | None] | None, LAYERS] = None
    tracing_effect: Annotated[PerLayer | None, LAYERS] = None
    tracing_p_corrupted: float | None = None
    tracing_subject_span: list[int] | None = None
    tracing_subject_found: bool | None = None
    tracing_map: Annotated[list[PerLayer] | None, ROWS] = None
    truncated: int | None = None  # tokens removed from the start (--truncate left)
    bi: Annotated[PerLayer | None, LAYERS] = None
    angular: Annotated[PerLayer | None, LAYERS] = None


class SuiteSummary(Section):
    """One suite of a run over several tasks."""

    items: int
    accuracy: float | None = None
    particle_median: float | None = None
    particle_iqr: float | None = None
    none_fraction: float | None = None
    vulnerable_layer: int | None = None
    js_mean: PerLayer | None = None


# The per-layer fields of a prompt row (its own shapes, on its fields).
PROMPT_PER_LAYER = layer_fields(PromptRow)
