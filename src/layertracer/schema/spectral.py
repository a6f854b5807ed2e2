"""The typed ``spectral`` section of ``results.json`` (docs/method.md#spectral)."""

from __future__ import annotations

from typing import Annotated

from layertracer.schema.section import LAYERS, PAIRS, Interval, PerLayer, Section

PerPair = list[float | None]  # L numbers: pair ℓ is layers (ℓ, ℓ+1)


class SpectralReadout(Section):
    """One principal direction read through the lens: its ``+`` and ``−`` sides' tokens."""

    layer: int
    component: int  # 1 = the leading one
    ratio: float | None
    plus: list[str]
    minus: list[str]


class TextProfile(Section):
    """CKA's δ profile of generic text and its critical layers (criterion ``cka_text``)."""

    source: str
    windows: int
    window_tokens: int
    delta: PerLayer
    critical_layers: list[int]
    critical_layer: int | None


class SuiteVsText(Section):
    """One suite's δ profile beside the text's."""

    items: int
    delta: PerLayer
    critical_layers: list[int]
    spearman: float | None
    spearman_ci95: Interval = None
    same_layer: bool
    shared_top: int


class SpectralSection(Section):
    """PCA per layer, the top-k split of each CKA shift, the principal angles, the lens
    readout of the leading directions and the text-derived critical layers."""

    representation: str
    k: int
    n: int
    explained_variance_ratio: Annotated[list[list[float | None]], LAYERS]  # [L+1][k]
    rank: Annotated[list[int], LAYERS]  # [L+1]
    principal_angles_deg: Annotated[list[list[float | None]], PAIRS]  # [L][k]
    pairs: dict[str, PerPair]  # each [L]
    top_share: Annotated[PerPair, PAIRS]  # [L]
    critical_layers: list[int]  # CKA's, around which the readout is taken
    readout: list[SpectralReadout] = []
    text: TextProfile | None = None
    suites: dict[str, SuiteVsText] = {}
    bootstrap: int | None = None
    arrays: dict[str, str] | None = None
    definition: str | None = None
