"""The options of the spectral analysis of the critical layers (docs/method.md#spectral)."""

from __future__ import annotations

from dataclasses import dataclass

from layertracer.config.checks import MAX_REPEATS, check, seed_ok

MAX_TEXT_WINDOWS = 2048  # the held-out corpus text has about 3,000 windows of 32 tokens


@dataclass(frozen=True)
class SpectralConfig:
    """PCA of each layer's representations, the top-k share of each CKA shift, and the
    critical layers of generic text (docs/method.md#spectral). The representation is the
    CKA one (``cka.representation``).

    Attributes:
        k: Principal components per layer; capped by ``prompts − 1`` and the hidden size.
        text_windows: Windows of 32 tokens of the held-out lens corpus (Northanger Abbey)
            whose representations give the text-derived critical layers (criterion
            ``cka_text``); 0: no text pass.
        readout: Leading components read through the lens per layer around each critical
            layer (0: none); at most ``k``.
        bootstrap: Resamples of the prompts and text windows for the confidence interval
            of each suite's Spearman with the text (0: none).
        seed: Seed of the resampling generator.
    """

    k: int = 8
    text_windows: int = 64
    readout: int = 3
    bootstrap: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.k >= 1, f"spectral.k must be >= 1, got {self.k}")
        check(
            0 <= self.text_windows <= MAX_TEXT_WINDOWS,
            f"spectral.text_windows must be in 0..{MAX_TEXT_WINDOWS}, got {self.text_windows}",
        )
        check(0 <= self.readout <= self.k, f"spectral.readout must be in 0..k, got {self.readout}")
        check(
            0 <= self.bootstrap <= 1000 * MAX_REPEATS,
            f"spectral.bootstrap must be in 0..{1000 * MAX_REPEATS}, got {self.bootstrap}",
        )
        seed_ok("spectral.seed", self.seed)
