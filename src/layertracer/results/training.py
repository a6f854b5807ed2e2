"""The result of ``layertracer finetune``, one typed object: :class:`FinetuneResults`,
written as ``results.json`` (docs/training.md#results). Undeclared keys are refused.

Every arm keeps its held-out predictions (each prompt's loss and greedy first token, clean
and triggered), from which ``scripts/crosscheck_training.py`` recomputes its loss, attack
success rate and clean accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from layertracer.atomic import atomic_write
from layertracer.errors import ResultsError
from layertracer.results.jsonio import first_problem
from layertracer.schema.section import Interval, PerLayer, Section

FINETUNE_SCHEMA = 1
Which = Literal["most", "least", "random", "all", "none"]


class DataInfo(Section):
    """The training and held-out data of the experiment."""

    task: str
    train: int
    poisoned: int
    heldout_ids: list[str]
    heldout_target_ids: list[int]
    triggered_ids: list[str] = Field(default_factory=list)
    trigger: str | None = None
    attack_target: str | None = None
    attack_token_id: int | None = None


class Predictions(Section):
    """An arm's model after training, on the held-out prompts (in ``data``'s order)."""

    clean_loss: list[float]
    clean_top1: list[int]
    triggered_top1: list[int] = Field(default_factory=list)


class Arm(Section):
    """One arm: which blocks trained, what it reached."""

    name: str
    criterion: str
    which: Which
    trained: list[int]
    frozen: list[int]
    loss_curve: list[list[float]]
    heldout_loss_start: float
    heldout_loss_final: float
    loss_reduction: float
    clean_accuracy: float | None
    asr: float | None = None
    weight_change: list[float]
    seconds: float
    cpu_seconds: float
    predictions: Predictions


class Effect(Section):
    """One criterion's ``most`` and ``least`` arms against the random draws, on one measure
    (``loss_reduction`` for adapt, ``asr`` and ``clean_accuracy`` for backdoor)."""

    criterion: str
    measure: str
    most: float | None
    least: float | None
    random_band: Interval
    random_mean: float | None
    most_vs_random: Literal["above", "below", "inside", "n/a"]
    least_vs_random: Literal["above", "below", "inside", "n/a"]


class ArmsSection(Section):
    """``adapt`` or ``backdoor``: every arm with ``k`` blocks chosen, and the effects."""

    k: int
    arms: list[Arm]
    effects: list[Effect]


class Correlation(Section):
    """Spearman's rho of a criterion's block values with a measure of fine-tuning, and its
    95% bootstrap interval over the blocks."""

    rho: float | None
    interval: Interval


class SensitivitySection(Section):
    """``sensitivity``: all blocks trained; what moved, and which criteria predict it."""

    weight_change: list[float]
    cka_before_after: PerLayer
    correlation: dict[str, dict[str, Correlation]]
    arm: Arm


class FinetuneResults(Section):
    """The result of one ``layertracer finetune``."""

    schema_version: int = FINETUNE_SCHEMA
    kind: Literal["finetune"] = "finetune"
    experiment: Literal["sensitivity", "adapt", "backdoor"]
    config: dict[str, Any]
    model: dict[str, Any]
    data: DataInfo
    criteria_from: str | None = None
    criteria: dict[str, PerLayer] = Field(default_factory=dict)
    sensitivity: SensitivitySection | None = None
    adapt: ArmsSection | None = None
    backdoor: ArmsSection | None = None
    warnings: list[str] = Field(default_factory=list)
    timing: dict[str, float] = Field(default_factory=dict)

    def save(self, folder: str | Path) -> Path:
        """Writes ``results.json`` into ``folder`` (atomically); returns its path."""
        path = Path(folder) / "results.json"
        atomic_write(path, json.dumps(self.model_dump(mode="json"), indent=1) + "\n")
        return path


def load_finetune(path: str | Path) -> FinetuneResults:
    """Reads the results.json of a ``finetune`` (a file or its folder).

    Raises:
        ResultsError: No such file, not JSON, or not a finetune results object.
    """
    file = Path(path) / "results.json" if Path(path).is_dir() else Path(path)
    try:
        return FinetuneResults.model_validate_json(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultsError(f"{file}: cannot read ({exc.strerror or exc})") from None
    except ValidationError as exc:
        raise ResultsError(f"{file}: not a finetune result: {first_problem(exc)}") from None
