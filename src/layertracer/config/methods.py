"""The options of each analysis method: particles, vulnerability, CKA, agreement,
ablation, causal tracing and layer removal (docs/method.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from layertracer.config.checks import (
    CKA_ESTIMATORS,
    CKA_REPRESENTATIONS,
    LAYER_RULES,
    MASK_MODES,
    MAX_REPEATS,
    MAX_SEEDS,
    POSITIONS,
    PROTECT,
    SENSITIVITY_DELTAS,
    SITES,
    at_most,
    check,
    check_fields,
    choice,
    seed_ok,
)
from layertracer.config.protocols import PROTOCOLS


@dataclass(frozen=True)
class ParticleConfig:
    """Thresholds of the task-particle rule (docs/method.md#task-particle).

    Attributes:
        delta: A layer fires when ``P[i] - P[i-1] >= delta``.
        z: z-score threshold of the outlier rule (needs >= 3 preceding layers).
        sigma_min: Floor on the standard deviation in the z rule.
        delta_min: The z rule also needs ``P[i] - P[i-1] >= delta_min``.
        sensitivity: The deltas of the sensitivity table.
    """

    delta: float = 0.05
    z: float = 2.0
    sigma_min: float = 1e-3
    delta_min: float = 0.01
    sensitivity: tuple[float, ...] = SENSITIVITY_DELTAS

    def __post_init__(self) -> None:
        check(0 < self.delta < 1, f"--delta must be in (0, 1), got {self.delta}")
        check(self.z > 0, f"--z must be positive, got {self.z}")
        check(self.sigma_min > 0, f"sigma_min must be positive, got {self.sigma_min}")
        check(0 <= self.delta_min < 1, f"delta_min must be in [0, 1), got {self.delta_min}")


@dataclass(frozen=True)
class VulnerabilityConfig:
    """The perturbation protocol of the vulnerability scan (docs/method.md#vulnerable-layer).

    The defaults are the default protocol (:data:`layertracer.config.protocols.DEFAULT`);
    :meth:`preset` builds a named one (``paper`` is the paper's protocol).

    Attributes:
        seeds: Mask seeds; dims of layer ``i`` under seed ``s`` come from ``rng([s, i])``.
            With ``adaptive``, the first round's seeds.
        mask_ratio: ``zero``/``mean``/``gaussian``: fraction ``r`` of hidden dims masked,
            ``k = round(r * d)``; ``norm``: the noise norm is ``sqrt(r)·‖h‖``.
        mask_mode: ``zero``, ``mean`` (per-dim clean mean), ``gaussian`` (adds noise with
            the per-dim clean std) or ``norm`` (adds isotropic noise of norm ``sqrt(r)·‖h‖``
            to every perturbed token's state).
        positions: Perturb ``all`` positions or only each prompt's ``last`` real token.
        protect_massive: ``none`` (the paper) or ``auto`` (never mask massive channels;
            ``norm``: no noise on them, and ``‖h‖`` taken over the other channels).
        massive_ratio: A channel is massive if its mean ``|h|`` at some layer exceeds
            this multiple of the median channel's.
        replay: Use suffix replay (docs/method.md#replay); ``False`` forces hooked full passes.
        site: What is perturbed at layer ``i``: the ``residual`` state, block ``i``'s
            ``mixer`` or ``mlp`` output, or its recurrent ``state`` (see ``sites.py``).
        adaptive: ``--seeds auto``: add ``seed_step`` seeds at a time (consecutive after
            ``seeds``) until the vulnerable layer is stable or ``max_seeds`` are used.
        seed_step: Seeds added per round of an adaptive scan.
        max_seeds: The budget of an adaptive scan.
        bootstrap: Resamples of the prompts-and-seeds bootstrap (docs/method.md#stability).
        splits: At most this many random balanced splits for the split-half reliability.
        layer_rule: Which layer is reported as the vulnerable layer
            (docs/method.md#interior-vulnerable-layer): ``interior-peak`` (the most
            prominent peak of the profile between the ends), ``interior-argmax`` (the
            argmax between the ends) or ``argmax`` (the paper's: over every layer).
        interior_margin: Layers ``< m`` and ``> L − m`` are ends, not interior.
    """

    seeds: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    mask_ratio: float = 0.2
    mask_mode: str = "norm"
    positions: str = "all"
    protect_massive: str = "auto"
    massive_ratio: float = 10.0
    replay: bool = True
    site: str = "residual"
    adaptive: bool = False
    seed_step: int = 4
    max_seeds: int = 32
    bootstrap: int = 1000
    splits: int = 100
    layer_rule: str = "interior-peak"
    interior_margin: int = 2

    def __post_init__(self) -> None:
        check(len(self.seeds) > 0, "--seeds needs at least one seed")
        check(len(set(self.seeds)) == len(self.seeds), f"--seeds repeats a seed: {self.seeds}")
        check(all(s >= 0 for s in self.seeds), f"--seeds must be >= 0, got {self.seeds}")
        for seed in self.seeds:
            seed_ok("--seeds", seed)
        at_most("--max-seeds", self.max_seeds, MAX_SEEDS)
        at_most("--seeds (count)", len(self.seeds), MAX_SEEDS)
        check(0 < self.mask_ratio < 1, f"--mask-ratio must be in (0, 1), got {self.mask_ratio}")
        choice("--mask-mode", self.mask_mode, MASK_MODES)
        choice("--positions", self.positions, POSITIONS)
        choice("--protect-massive", self.protect_massive, PROTECT)
        choice("--site", self.site, SITES)
        check(self.massive_ratio > 1, f"--massive-ratio must be > 1, got {self.massive_ratio}")
        check(self.seed_step >= 1, f"seed_step must be >= 1, got {self.seed_step}")
        check(
            self.max_seeds >= len(self.seeds),
            f"--max-seeds must be >= the {len(self.seeds)} starting seeds, got {self.max_seeds}",
        )
        check(self.bootstrap >= 0, f"bootstrap must be >= 0, got {self.bootstrap}")
        check(self.splits >= 1, f"splits must be >= 1, got {self.splits}")
        choice("--layer-rule", self.layer_rule, LAYER_RULES)
        margin = self.interior_margin
        check(margin >= 1, f"--interior-margin must be >= 1, got {margin}")

    @classmethod
    def preset(
        cls, name: str, options: Mapping[str, object] | None = None, /, **overrides: object
    ) -> VulnerabilityConfig:
        """The protocol ``name`` of :data:`~layertracer.config.protocols.PROTOCOLS`, with
        ``options`` (a dict) and ``overrides`` (keywords) given explicitly; ``None`` values
        keep the protocol's: ``preset("paper", {"seeds": (0, 1)})`` or
        ``preset("paper", seeds=(0, 1))``.

        Raises:
            ConfigError: An unknown protocol or option, or a bad option value.
        """
        choice("--protocol", name, tuple(PROTOCOLS))
        given = {k: v for k, v in {**(options or {}), **overrides}.items() if v is not None}
        check_fields(cls, given, f"VulnerabilityConfig.preset({name!r})")
        chosen: dict[str, Any] = {**PROTOCOLS[name], **given}
        return cls(**chosen)

    def protocol(self) -> str:
        """The name of the protocol these options are, or ``custom``."""
        for name, options in PROTOCOLS.items():
            if all(getattr(self, key) == value for key, value in options.items()):
                return name
        return "custom"


@dataclass(frozen=True)
class CKAConfig:
    """Linear CKA between layer representations (docs/method.md#cka).

    Attributes:
        estimator: ``biased`` (the plain HSIC ratio) or ``debiased`` (unbiased HSIC).
        representation: Per prompt, the ``last`` real token's state or the ``mean`` over
            its real tokens.
    """

    estimator: str = "biased"
    representation: str = "last"

    def __post_init__(self) -> None:
        choice("--cka-estimator", self.estimator, CKA_ESTIMATORS)
        choice("--cka-representation", self.representation, CKA_REPRESENTATIONS)


@dataclass(frozen=True)
class AgreementConfig:
    """Bootstrap of the agreement statistics over prompts (docs/method.md#agreement).

    Attributes:
        samples: Bootstrap resamples of the prompts (0: no confidence intervals).
        seed: Seed of the resampling generator.
    """

    samples: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.samples >= 0, f"bootstrap samples must be >= 0, got {self.samples}")
        check(self.seed >= 0, f"bootstrap seed must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class AblationConfig:
    """Layer ablation: skip each block in turn (docs/method.md#layer-ablation).

    Attributes:
        replay: Use suffix replay (docs/method.md#replay); ``False`` forces hooked full passes.
        layers_per_replay: Ablated layers stacked on the batch dimension of one replay
            (``None``: 1 on a CPU, where stacking saves nothing, all layers on a GPU).
    """

    replay: bool = True
    layers_per_replay: int | None = None

    def __post_init__(self) -> None:
        check(
            self.layers_per_replay is None or self.layers_per_replay >= 1,
            f"layers_per_replay must be >= 1, got {self.layers_per_replay}",
        )


@dataclass(frozen=True)
class TracingConfig:
    """ROME causal tracing (docs/method.md#causal-tracing).

    Attributes:
        noise_multiplier: Noise scale in units of the std of the task's subject-token
            embeddings (ROME: 3).
        copies: Noisy copies per prompt; copy ``c`` draws its noise from
            ``numpy.random.default_rng(seed + c)``.
        seed: Seed of the first copy.
        map_prompts: The full layer × position map is computed for the first N prompts
            of the task (``None``: all, ``0``: none); the per-layer summary (restoring the
            last subject token) always covers every prompt.
        replay: Use suffix replay (docs/method.md#replay); ``False`` forces hooked full passes.
        layers_per_replay: Restored layers stacked on the batch dimension of one replay
            (``None``: 1 on a CPU, all layers on a GPU).
    """

    noise_multiplier: float = 3.0
    copies: int = 10
    seed: int = 0
    map_prompts: int | None = 4
    replay: bool = True
    layers_per_replay: int | None = None

    def __post_init__(self) -> None:
        check(
            self.noise_multiplier >= 0,
            f"--tracing-noise must be >= 0, got {self.noise_multiplier}",
        )
        check(self.copies >= 1, f"--tracing-copies must be >= 1, got {self.copies}")
        check(self.seed >= 0, f"--tracing-seed must be >= 0, got {self.seed}")
        seed_ok("--tracing-seed", self.seed + self.copies - 1)  # copy c is seed + c
        at_most("--tracing-copies", self.copies, MAX_REPEATS)
        check(
            self.map_prompts is None or self.map_prompts >= 0,
            f"--tracing-map-prompts must be >= 0, got {self.map_prompts}",
        )
        check(
            self.layers_per_replay is None or self.layers_per_replay >= 1,
            f"layers_per_replay must be >= 1, got {self.layers_per_replay}",
        )


@dataclass(frozen=True)
class RemovalConfig:
    """Layer removal guided by each criterion (docs/method.md#layer-removal).

    Attributes:
        max_blocks: ``K``, the most blocks removed (``k = 0..K``); ``None``:
            ``max(1, floor(L / 4))``, at most the number of removable blocks.
        span: ``n`` of the angular distance ``d(h_ℓ, h_ℓ+n)`` (Gromov et al.): the
            ``angular`` criterion rates windows of ``n`` consecutive blocks.
        random_orders: Random removal orders averaged into the ``random`` baseline.
        random_seed: Order ``r`` is ``numpy.random.default_rng([random_seed, r])``'s
            permutation of the removable blocks.
        replay: Use suffix replay (docs/method.md#replay); ``False`` forces hooked full passes.
        sets_per_replay: Pruned models stacked on the batch dimension of one replay
            (``None``: 1 on a CPU, where stacking saves nothing, as many as fit on a GPU).
    """

    max_blocks: int | None = None
    span: int = 1
    random_orders: int = 5
    random_seed: int = 0
    replay: bool = True
    sets_per_replay: int | None = None

    def __post_init__(self) -> None:
        check(
            self.max_blocks is None or self.max_blocks >= 1,
            f"--removal-blocks must be >= 1, got {self.max_blocks}",
        )
        check(self.span >= 1, f"--removal-span must be >= 1, got {self.span}")
        check(
            self.random_orders >= 1,
            f"--removal-random must be >= 1, got {self.random_orders}",
        )
        check(self.random_seed >= 0, f"--removal-seed must be >= 0, got {self.random_seed}")
        seed_ok("--removal-seed", self.random_seed)
        at_most("--removal-random", self.random_orders, MAX_REPEATS)
        check(
            self.sets_per_replay is None or self.sets_per_replay >= 1,
            f"sets_per_replay must be >= 1, got {self.sets_per_replay}",
        )
