"""The typed sections the critical-layer methods write into ``results.json``: similarity,
particles, vulnerability, CKA, ablation, causal tracing, removal, agreement
(docs/method.md). A per-layer field says its shape on the field (``Annotated[..., LAYERS]``,
:class:`~layertracer.schema.section.Layers`).
"""

from __future__ import annotations

from typing import Annotated, Any

from layertracer.schema.section import EACH, LAYERS, ROWS, SQUARE, Interval, PerLayer, Section


class SimilaritySection(Section):
    """Block Influence and angular distance of the clean pass
    (docs/method.md#block-influence)."""

    bi: Annotated[PerLayer, LAYERS]
    angular: Annotated[PerLayer, LAYERS]
    span: int
    prompts: int | None = None
    bi_tokens: str | None = None
    angular_position: str | None = None
    definition: str | None = None


class ParticleStats(Section):
    """Median, IQR and fraction without a particle over a set of prompts."""

    count: int | None = None
    median: float | None = None
    quartiles: Interval = None
    iqr: float | None = None
    none_fraction: float | None = None


class OtherLensParticles(ParticleStats):
    """The particles of the same prompts under the other lens (``lens``)."""

    lens: str


class ParticlesSection(ParticleStats):
    """Task particles (docs/method.md#task-particle) under the run's lens (``lens``);
    ``correct``: the same statistics over the prompts the model answers correctly (first
    token); ``other_lens``: those under the other lens, when there is one."""

    delta: float
    z: float
    layers: list[int | None]
    histogram: Annotated[list[int], LAYERS]
    sigma_min: float | None = None
    delta_min: float | None = None
    quartiles: Interval = None
    sensitivity: dict[str, ParticleStats] = {}
    correct: ParticleStats | None = None
    lens: str | None = None
    other_lens: OtherLensParticles | None = None


class Reliability(Section):
    """Split-half reliability of the JS profile (``None``: fewer than 4 seeds/prompts)."""

    seeds: float | None = None
    prompts: float | None = None


class VulnerabilitySection(Section):
    """The vulnerability scan (docs/method.md#vulnerable-layer) with its uncertainty
    (docs/method.md#stability)."""

    mask_ratio: float
    mask_mode: str
    positions: str
    seeds: list[int]
    js: Annotated[list[PerLayer], ROWS]
    js_mean: Annotated[PerLayer, LAYERS]
    js_std: Annotated[PerLayer, LAYERS]
    vulnerable_layer: int | None
    masked_dims: Annotated[dict[str, list[list[int]]], EACH]
    massive_dims: list[int]
    masked_massive: Annotated[dict[str, list[bool]], EACH]
    protect_massive: str
    per_seed_vulnerable_layer: list[int | None]
    seed_agreement: float | None
    stable: bool
    site: str = "residual"
    k: int | None = None
    massive_ratio: float | None = None
    split_half_spearman: float | None = None
    warning: str | None = None
    path: str | None = None
    replay_max_abs_err: float | None = None
    fallback_reason: str | None = None
    prompts: int | None = None
    site_layers: Annotated[list[bool] | None, LAYERS] = None
    massive_dims_per_layer: dict[str, list[int]] | None = None
    protocol: str | None = None
    js_ci95: Annotated[list[Interval] | None, LAYERS] = None
    argmax_frequency: Annotated[PerLayer | None, LAYERS] = None
    confidence_set: list[int] | None = None
    reliability: Reliability | None = None
    bootstrap: dict[str, Any] | None = None
    adaptive: dict[str, Any] | None = None
    arrays: dict[str, str] | None = None
    layer_rule: str = "argmax"  # runs before the interior definition reported the argmax
    argmax_layer: int | None = None
    argmax_confidence_set: list[int] | None = None
    argmax_reliability: Reliability | None = None
    argmax_stable: bool | None = None
    interior: dict[str, Any] | None = None
    shared: dict[str, Any] | None = None


class CKASection(Section):
    """Linear CKA between layers and δ_ℓ (docs/method.md#cka)."""

    estimator: str
    representation: str
    n: int
    matrix: Annotated[list[PerLayer], SQUARE]
    delta: Annotated[PerLayer, LAYERS]
    critical_layers: list[int]
    critical_layer: int | None
    form: str | None = None
    window: int | None = None


class AblationSection(Section):
    """Layer ablation (docs/method.md#layer-ablation)."""

    target_logprob_drop: Annotated[PerLayer, LAYERS]
    accuracy_drop: Annotated[PerLayer, LAYERS]
    critical_layer: int | None
    ablated_accuracy: Annotated[PerLayer | None, LAYERS] = None
    clean_accuracy: float | None = None
    clean_target_logprob: float | None = None
    prompts: int | None = None
    definition: str | None = None
    path: str | None = None
    replay_max_abs_err: float | None = None
    fallback_reason: str | None = None
    layers_per_replay: int | None = None


class TracingMap(Section):
    """The layer × token-category map of causal tracing."""

    categories: list[str]
    effect: list[PerLayer | None]  # null: no prompt has a token of that category
    counts: list[int]
    prompts: int | None = None
    positions: str | None = None


class TracingSection(Section):
    """ROME causal tracing (docs/method.md#causal-tracing)."""

    noise_scale: float
    copies: int
    indirect_effect: Annotated[PerLayer, LAYERS]
    critical_layer: int | None
    noise_multiplier: float | None = None
    embedding_std: float | None = None
    seeds: list[int] | None = None
    noise: str | None = None
    restored_position: str | None = None
    p_clean: float | None = None
    p_corrupted: float | None = None
    total_effect: float | None = None
    prompts: int | None = None
    subject_found: int | None = None
    map_prompts: int | None = None
    map: TracingMap | None = None
    path: str | None = None
    replay_max_abs_err: float | None = None
    fallback_reason: str | None = None
    layers_per_replay: int | None = None


class RemovalCurve(Section):
    """One criterion's removal curve: the measures with ``k = 0..K`` blocks removed."""

    accuracy: list[float | None]
    target_logprob: list[float | None]
    kl: list[float | None]
    accuracy_auc: float | None = None
    logprob_auc: float | None = None
    vs_random: str | None = None
    accuracy_band: list[list[float | None]] | None = None  # random: [min, max] per k
    target_logprob_band: list[list[float | None]] | None = None
    kl_band: list[list[float | None]] | None = None
    accuracy_auc_band: Interval = None  # random: [min, max] over its orders
    logprob_auc_band: Interval = None


class RemovalSection(Section):
    """Layer removal guided by each criterion (docs/method.md#layer-removal)."""

    max_blocks: int
    criteria: list[str]
    orders: dict[str, list[int]]
    curves: dict[str, RemovalCurve]
    best: str | None
    removable: Annotated[list[bool | None], LAYERS]
    span: int | None = None
    scores: Annotated[dict[str, PerLayer], EACH] = {}
    random_orders: list[list[int]] = []
    random_seed: int | None = None
    missing: list[str] = []
    not_removable: dict[str, str] = {}
    prompts: int | None = None
    pruned_models: int | None = None
    definition: str | None = None
    path: str | None = None
    replay_max_abs_err: float | None = None
    fallback_reason: str | None = None
    sets_per_replay: int | None = None


class AgreementPair(Section):
    """Agreement of two criteria."""

    a: str
    b: str
    spearman: float | None
    pearson: float | None
    layer_distance: float | None
    spearman_ci95: Interval = None
    pearson_ci95: Interval = None
    layer_distance_ci95: Interval = None
    layers: int | None = None
    degenerate: list[str] = []  # statistics whose BCa interval is undefined


class AgreementSection(Section):
    """Agreement between the per-layer criteria (docs/method.md#agreement)."""

    criteria: list[str]
    curves: Annotated[dict[str, PerLayer], EACH]
    chosen_layers: dict[str, int | None]
    pairs: list[AgreementPair]
    direction: str | None = None
    bootstrap: dict[str, Any] = {}
