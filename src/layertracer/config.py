"""Every option of a run, as one frozen dataclass that is saved into the results.

Validation happens on construction, so a bad option fails before a model is loaded.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from layertracer.errors import ConfigError

MASK_MODES = ("zero", "mean", "gaussian")
POSITIONS = ("all", "last")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "bfloat16", "float16")
PROTECT = ("none", "auto")
ALL_METHODS = ("lens", "particles", "vulnerability", "cka", "ablation", "tracing", "agreement")
DEFAULT_METHODS = ("lens", "particles", "vulnerability")
IMPLEMENTED_METHODS = DEFAULT_METHODS
SENSITIVITY_DELTAS = (0.03, 0.04, 0.05, 0.06, 0.07, 0.08)


@dataclass(frozen=True)
class ParticleConfig:
    """Thresholds of the task-particle rule (DESIGN §1).

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
        _check(0 < self.delta < 1, f"--delta must be in (0, 1), got {self.delta}")
        _check(self.z > 0, f"--z must be positive, got {self.z}")
        _check(self.sigma_min > 0, f"sigma_min must be positive, got {self.sigma_min}")
        _check(0 <= self.delta_min < 1, f"delta_min must be in [0, 1), got {self.delta_min}")


@dataclass(frozen=True)
class VulnerabilityConfig:
    """The perturbation protocol of the vulnerability scan (DESIGN §1).

    Attributes:
        seeds: Mask seeds; dims of layer ``i`` under seed ``s`` come from ``rng([s, i])``.
        mask_ratio: Fraction ``r`` of hidden dims masked, ``k = round(r * d)``.
        mask_mode: ``zero``, ``mean`` (per-dim clean mean) or ``gaussian`` (adds noise
            with the per-dim clean std).
        positions: Perturb ``all`` positions or only each prompt's ``last`` real token.
        protect_massive: ``none`` (the paper) or ``auto`` (never mask massive channels).
        massive_ratio: A channel is massive if its mean ``|h|`` at some layer exceeds
            this multiple of the median channel's.
        replay: Use suffix replay (DESIGN §3); ``False`` forces hooked full passes.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    mask_ratio: float = 0.2
    mask_mode: str = "zero"
    positions: str = "all"
    protect_massive: str = "none"
    massive_ratio: float = 10.0
    replay: bool = True

    def __post_init__(self) -> None:
        _check(len(self.seeds) > 0, "--seeds needs at least one seed")
        _check(len(set(self.seeds)) == len(self.seeds), f"--seeds repeats a seed: {self.seeds}")
        _check(all(s >= 0 for s in self.seeds), f"--seeds must be >= 0, got {self.seeds}")
        _check(0 < self.mask_ratio < 1, f"--mask-ratio must be in (0, 1), got {self.mask_ratio}")
        _choice("--mask-mode", self.mask_mode, MASK_MODES)
        _choice("--positions", self.positions, POSITIONS)
        _choice("--protect-massive", self.protect_massive, PROTECT)
        _check(self.massive_ratio > 1, f"--massive-ratio must be > 1, got {self.massive_ratio}")


@dataclass(frozen=True)
class AnatomyOverrides:
    """Module paths that replace discovery where structure cannot decide.

    Attributes:
        blocks: Dotted path of the ModuleList of blocks (e.g. ``model.layers``).
        final_norm: Paths of the modules between the last block and the unembedding, in
            order; ``()`` for none; ``None`` to discover.
        unembed: Path of the module that maps the final state to logits.
    """

    blocks: str | None = None
    final_norm: tuple[str, ...] | None = None
    unembed: str | None = None


def parse_final_norm(text: str | None) -> tuple[str, ...] | None:
    """Parses ``--final-norm`` (comma list of paths, or ``none``)."""
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    paths = tuple(t.strip() for t in text.split(",") if t.strip())
    _check(bool(paths), "--final-norm needs module paths or 'none'")
    return paths


@dataclass(frozen=True)
class RunConfig:
    """One run: the model, the task and every option actually used.

    Attributes:
        model: Model spec (hub id, directory, ``.gguf`` file, ``smollm2-135m``,
            ``tiny:<model_type>``).
        task: Built-in suite name or a ``.jsonl`` / ``.csv`` file.
        batch_size: Prompts per forward pass (seeds are stacked on top of this).
        device: ``auto``, ``cpu`` or ``cuda``.
        dtype: Model weights' dtype; the lens and JS are always float32 or wider.
        max_prompts: Use only the first N prompts (``None``: all).
        shots: Few-shot demonstrations prepended to each prompt, drawn from the same task
            (never the item itself nor one with its target).
        methods: Which analyses to run.
        trust_remote_code: Allow model code from the hub (off by default).
        particles: Particle-rule thresholds.
        vulnerability: Vulnerability-scan protocol.
        anatomy: Module paths overriding discovery.
    """

    model: str = "smollm2-135m"
    task: str = "capitals"
    batch_size: int = 8
    device: str = "auto"
    dtype: str = "float32"
    max_prompts: int | None = None
    shots: int = 0
    methods: tuple[str, ...] = DEFAULT_METHODS
    trust_remote_code: bool = False
    particles: ParticleConfig = field(default_factory=ParticleConfig)
    vulnerability: VulnerabilityConfig = field(default_factory=VulnerabilityConfig)
    anatomy: AnatomyOverrides = field(default_factory=AnatomyOverrides)

    def __post_init__(self) -> None:
        _check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        _choice("--device", self.device, DEVICES)
        _choice("--dtype", self.dtype, DTYPES)
        _check(
            self.max_prompts is None or self.max_prompts >= 1,
            f"--max-prompts must be >= 1, got {self.max_prompts}",
        )
        _check(self.shots >= 0, f"--shots must be >= 0, got {self.shots}")
        for m in self.methods:
            _choice("--methods", m, ALL_METHODS)
            _check(m in IMPLEMENTED_METHODS, f"--methods: {m!r} is not available in this version")

    def to_dict(self) -> dict:
        """Returns the configuration as plain JSON-ready data."""
        return dataclasses.asdict(self)


def parse_methods(text: str) -> tuple[str, ...]:
    """Parses ``--methods`` (comma list or ``all``) into a tuple of method names.

    Raises:
        ConfigError: An unknown method name.
    """
    names = [t.strip() for t in text.split(",") if t.strip()]
    if "all" in names:
        return IMPLEMENTED_METHODS
    _check(bool(names), "--methods is empty")
    for n in names:
        _choice("--methods", n, (*ALL_METHODS, "all"))
    if "particles" in names and "lens" not in names:
        names.insert(0, "lens")
    return tuple(dict.fromkeys(names))


def parse_seeds(text: str) -> tuple[int, ...]:
    """Parses ``--seeds 0,1,2`` into a tuple of ints.

    Raises:
        ConfigError: A seed that is not a non-negative integer.
    """
    try:
        seeds = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers, got {text!r}") from None
    _check(len(seeds) > 0, "--seeds needs at least one seed")
    _check(all(s >= 0 for s in seeds), f"--seeds must be non-negative integers, got {text!r}")
    return seeds


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> None:
    _check(value in allowed, f"{option} must be one of {', '.join(allowed)}; got {value!r}")
