"""A whole run: its inputs, anatomy overrides, and :class:`RunConfig`, which holds every
option and is saved into the results."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from layertracer.config.catalog import DEFAULT_METHODS
from layertracer.config.checks import (
    DEVICE_MAPS,
    DEVICES,
    DTYPES,
    check,
    choice,
    with_needs,
)
from layertracer.config.lens import LensConfig
from layertracer.config.methods import (
    AblationConfig,
    AgreementConfig,
    CKAConfig,
    ParticleConfig,
    RemovalConfig,
    TracingConfig,
    VulnerabilityConfig,
)
from layertracer.config.options import FLAT, SPECIAL, build, nest
from layertracer.config.parse import parse_methods
from layertracer.config.spectral import SpectralConfig
from layertracer.errors import ConfigError

DEFAULT_TASK = "capitals"


@dataclass(frozen=True)
class InputConfig:
    """What the model reads: task fields, chat template, text mode, full answers.

    Attributes:
        prompt_field: Name of the prompt field in task files and datasets.
        target_field: Name of the target field.
        split: Split of a Hugging Face ``DatasetDict`` folder (None: ``test`` or the only one).
        chat_template: Wrap each prompt as one user turn of the tokenizer's chat template
            (with the generation prompt); the templated text is encoded without adding
            special tokens again.
        full_target: Also compute, per layer, the teacher-forced lens log-prob of the whole
            answer (all its tokens), ``prompts[*].answer_logprob [L+1]``.
        text: Text mode: a text file or ``builtin:<name>`` instead of a task.
        text_window: Tokens per window in text mode.
        truncate: ``none`` (a prompt longer than the model's context is an error) or
            ``left`` (keep its last tokens; ``prompts[*].truncated`` says how many went).
    """

    prompt_field: str = "prompt"
    target_field: str = "target"
    split: str | None = None
    chat_template: bool = False
    full_target: bool = False
    text: str | None = None
    text_window: int = 32
    truncate: str = "none"

    def __post_init__(self) -> None:
        fields = (self.prompt_field, self.target_field)
        check(all(f.strip() for f in fields), "--prompt-field/--target-field must not be empty")
        check(self.prompt_field != self.target_field, "--prompt-field equals --target-field")
        check(self.text_window >= 2, f"--text-window must be >= 2, got {self.text_window}")
        check(self.text is None or bool(self.text.strip()), "--text is empty")
        check(not (self.text and self.chat_template), "--chat-template does not apply to --text")
        choice("--truncate", self.truncate, ("none", "left"))

    @property
    def fields(self) -> tuple[str, str]:
        """``(prompt_field, target_field)``."""
        return self.prompt_field, self.target_field


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


@dataclass(frozen=True)
class RunConfig:
    """One run: the model, the task and every option actually used.

    Attributes:
        model: Model spec (hub id, directory, ``.gguf`` file, ``smollm2-135m``,
            ``tiny:<model_type>``).
        task: Built-in suite name, ``.jsonl`` / ``.csv`` file or dataset folder, or a comma
            list of them; ``None`` in text mode (``inputs.text``). Not given: ``capitals``
            (:data:`DEFAULT_TASK`) unless in text mode.
        batch_size: Prompts per forward pass (seeds are stacked on top of this), or
            ``auto`` (estimated from free GPU memory); halved on GPU out-of-memory.
        device: ``auto``, ``cpu`` or ``cuda``.
        device_map: ``auto`` spreads the blocks over GPUs and CPU (``accelerate``);
            ``None`` puts the whole model on ``device``.
        dtype: Model weights' dtype; the lens and JS are always float32 or wider.
        max_prompts: Use only the first N prompts (``None``: all).
        shots: Few-shot demonstrations prepended to each prompt, drawn from the same task
            (never the item itself nor one with its target).
        methods: Which analyses to run: a tuple of names, or a string as ``--methods``
            takes it (``"lens"``, ``"lens,particles"``, ``"all"``); ``("all",)`` is every
            method. Normalised on construction to the methods with the methods they need
            (:func:`~layertracer.config.checks.with_needs`: ``("removal",)`` also runs
            vulnerability, cka, ablation and tracing), however the config is built.
        trust_remote_code: Allow model code from the hub (off by default).
        particles: Particle-rule thresholds.
        vulnerability: Vulnerability-scan protocol.
        anatomy: Module paths overriding discovery.
        cka: CKA estimator and representation.
        spectral: PCA per layer, the top-k share of the CKA shifts, the text-derived
            critical layers (docs/method.md#spectral).
        agreement: Bootstrap of the agreement statistics.
        ablation: Layer-ablation options.
        tracing: Causal-tracing options.
        removal: Layer-removal options (also the span of the ``angular`` criterion).
        inputs: Task fields, chat template, text mode, full-answer log-probs.
        lens: The lens that reads the layer states (``logit`` or ``tuned``) and the tuned
            lens's training settings.
    """

    model: str = "smollm2-135m"
    task: str | None = None
    batch_size: int | str = 8
    device: str = "auto"
    device_map: str | None = None
    dtype: str = "float32"
    max_prompts: int | None = None
    shots: int = 0
    methods: tuple[str, ...] = DEFAULT_METHODS
    trust_remote_code: bool = False
    particles: ParticleConfig = field(default_factory=ParticleConfig)
    vulnerability: VulnerabilityConfig = field(default_factory=VulnerabilityConfig)
    anatomy: AnatomyOverrides = field(default_factory=AnatomyOverrides)
    cka: CKAConfig = field(default_factory=CKAConfig)
    spectral: SpectralConfig = field(default_factory=SpectralConfig)
    agreement: AgreementConfig = field(default_factory=AgreementConfig)
    ablation: AblationConfig = field(default_factory=AblationConfig)
    tracing: TracingConfig = field(default_factory=TracingConfig)
    removal: RemovalConfig = field(default_factory=RemovalConfig)
    inputs: InputConfig = field(default_factory=InputConfig)
    lens: LensConfig = field(default_factory=LensConfig)

    def __post_init__(self) -> None:
        methods = self.methods
        methods = parse_methods(methods) if isinstance(methods, str) else with_needs(methods)
        object.__setattr__(self, "methods", methods)  # frozen: normalised once, with needs
        if self.task is None and not self.inputs.text:
            object.__setattr__(self, "task", DEFAULT_TASK)
        check(
            self.batch_size == "auto"
            or (isinstance(self.batch_size, int) and self.batch_size >= 1),
            f"--batch-size must be an integer >= 1 or 'auto', got {self.batch_size!r}",
        )
        choice("--device", self.device, DEVICES)
        if self.device_map is not None:
            choice("--device-map", self.device_map, DEVICE_MAPS)
        choice("--dtype", self.dtype, DTYPES)
        check(
            self.max_prompts is None or self.max_prompts >= 1,
            f"--max-prompts must be >= 1, got {self.max_prompts}",
        )
        check(self.shots >= 0, f"--shots must be >= 0, got {self.shots}")
        self._check_inputs()

    def _check_inputs(self) -> None:
        """``--task`` xor ``--text``; options that need one or the other."""
        text = self.inputs.text
        check(not (text and self.task), "give either --task or --text, not both")
        check(not (text and self.shots), "--shots does not apply to --text")
        check(
            not self.inputs.full_target or "lens" in self.methods,
            "--full-target needs the lens method (add lens to --methods)",
        )

    def to_dict(self) -> dict[str, Any]:
        """Returns the configuration as plain JSON-ready data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """The config of a nested dict as :meth:`to_dict` writes it (results.json's
        ``config``: ``RunConfig.from_dict(results.config)`` re-runs a saved run); missing
        keys keep their defaults.

        Raises:
            ConfigError: An unknown option (with its path), or a bad value.
        """
        return build(cls, data, "config")

    @classmethod
    def from_options(cls, **options: Any) -> RunConfig:
        """The config of flat options named as ``layertracer run``'s flags (``max_prompts``,
        ``methods="all"``, ``seeds="0,1"``, ``protocol="paper"``, ``mask_ratio``,
        ``tracing_noise``, ``replay=False``, ...) or ``"section.field"`` as ``--set`` takes
        it (``**{"tracing.copies": 20}``), text parsed as the command line parses it
        (:mod:`layertracer.config.options`).

        Raises:
            ConfigError: An unknown option (the message lists them all), or a bad value.
        """
        return build(cls, nest(cls, options), "config")


def as_config(config: RunConfig | Mapping[str, Any] | None) -> RunConfig:
    """``config`` as a :class:`RunConfig`: ``None`` gives the defaults; a dict of flat
    options (all names of ``from_options``) goes through :meth:`RunConfig.from_options`,
    any other dict (e.g. results.json's ``config``) through :meth:`RunConfig.from_dict`.

    Raises:
        ConfigError: Neither a RunConfig nor a dict, or a bad option.
    """
    if config is None:
        return RunConfig()
    if isinstance(config, RunConfig):
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(f"config must be a RunConfig or a dict, got {type(config).__name__}")
    if all(name in FLAT or name in SPECIAL or "." in name for name in config):
        return RunConfig.from_options(**config)
    return RunConfig.from_dict(config)
