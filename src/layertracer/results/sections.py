"""The typed sections of ``results.json`` (schema 1): one model per section, the same on
write and on read.

Every per-layer array has ``L+1`` entries, layer state 0 first (docs/method.md#layers),
``null`` where a layer does not apply; :data:`PER_LAYER` names them, so that a file whose
arrays do not match its ``model.num_layers`` is refused on read with the path of the first
problem. A key no section declares is refused the same way (a misspelt key is an error).
A section reads like the JSON object too: ``section["js_mean"]``, ``section.get("warning")``.
"""

from __future__ import annotations

from layertracer.results.method_sections import (
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
from layertracer.results.section import PerLayer, Section

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
    kl_bits: dict[str, PerLayer] | None = None
    tuned: dict | None = None


class PromptRow(Section):
    """One prompt: its target token, lens trajectory and every per-prompt measure."""

    id: str
    prompt: str
    target: str
    target_token_id: int
    target_prob: PerLayer
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
    topk: list[list[tuple[str, float]]] | None = None
    answer_logprob: PerLayer | None = None
    answer_tokens: int | None = None
    answer_correct: bool | None = None
    js_mean: PerLayer | None = None
    ablation_drop: PerLayer | None = None
    ablation_correct: list[bool | None] | None = None
    tracing_effect: PerLayer | None = None
    tracing_p_corrupted: float | None = None
    tracing_subject_span: list[int] | None = None
    tracing_subject_found: bool | None = None
    tracing_map: list[PerLayer] | None = None
    truncated: int | None = None  # tokens removed from the start (--truncate left)
    bi: PerLayer | None = None
    angular: PerLayer | None = None


class SuiteSummary(Section):
    """One suite of a run over several tasks."""

    items: int
    accuracy: float | None = None
    particle_median: float | None = None
    particle_iqr: float | None = None
    none_fraction: float | None = None
    vulnerable_layer: int | None = None
    js_mean: PerLayer | None = None


# (section, field, shape): the per-layer arrays of every section. "layers": the field has
# L+1 entries; "rows": each of its entries has; "square": both; "each": each value of a
# dict has L+1 entries; "pairs": the field has L entries, one per pair (ℓ, ℓ+1).
PER_LAYER: tuple[tuple[str, str, str], ...] = (
    ("particles", "histogram", "layers"),
    ("vulnerability", "js", "rows"),
    ("vulnerability", "js_mean", "layers"),
    ("vulnerability", "js_std", "layers"),
    ("vulnerability", "site_layers", "layers"),
    ("vulnerability", "js_ci95", "layers"),
    ("vulnerability", "argmax_frequency", "layers"),
    ("vulnerability", "masked_dims", "each"),
    ("vulnerability", "masked_massive", "each"),
    ("cka", "matrix", "square"),
    ("cka", "delta", "layers"),
    ("spectral", "explained_variance_ratio", "layers"),
    ("spectral", "rank", "layers"),
    ("spectral", "principal_angles_deg", "pairs"),
    ("spectral", "top_share", "pairs"),
    ("ablation", "target_logprob_drop", "layers"),
    ("ablation", "accuracy_drop", "layers"),
    ("ablation", "ablated_accuracy", "layers"),
    ("causal_tracing", "indirect_effect", "layers"),
    ("similarity", "bi", "layers"),
    ("similarity", "angular", "layers"),
    ("removal", "removable", "layers"),
    ("removal", "scores", "each"),
    ("agreement", "curves", "each"),
)
PROMPT_PER_LAYER: tuple[tuple[str, str], ...] = (
    ("target_prob", "layers"),
    ("topk", "layers"),
    ("answer_logprob", "layers"),
    ("js_mean", "layers"),
    ("ablation_drop", "layers"),
    ("ablation_correct", "layers"),
    ("tracing_effect", "layers"),
    ("tracing_map", "rows"),
    ("bi", "layers"),
    ("angular", "layers"),
)
