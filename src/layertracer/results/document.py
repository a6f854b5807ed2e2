"""The result of a run, one typed object: :class:`Results`, written as ``results.json``
(schema 1) and ``prompts.csv``, and validated whenever it is read back.

Both files are written atomically (temporary file + rename), so a crash never leaves a
half-written result and never destroys the previous one. Reading checks every section's
types and every per-layer array's length against ``model.num_layers``; a bad file is a
:class:`~layertracer.errors.ResultsError` naming the JSON path of its first problem.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from layertracer.errors import ResultsError
from layertracer.results import frames, views
from layertracer.results.files import (
    arrays_from_data,
    arrays_npz,
    arrays_to_data,
    atomic_write,
    prompts_csv,
    read_npz,
)
from layertracer.results.jsonio import check_length, finite, first_problem, plain, read_json
from layertracer.results.timing import TimingValue
from layertracer.schema.section import per_layer_table
from layertracer.schema.sections import (
    PROMPT_PER_LAYER,
    AblationSection,
    AgreementSection,
    CKASection,
    LensSection,
    ModelInfo,
    ParticlesSection,
    PromptRow,
    RemovalSection,
    SimilaritySection,
    SuiteSummary,
    TaskInfo,
    Tool,
    TracingSection,
    VulnerabilitySection,
)
from layertracer.schema.spectral import SpectralSection

SCHEMA_VERSION = 1
ARRAYS = "arrays.npz"


class Results(BaseModel):
    """Everything a run measured, keyed as in results.json (docs/method.md#results).

    Attributes:
        tool: Name and version of the program that wrote it.
        config: Every option actually used (:class:`layertracer.config.RunConfig`).
        environment: Python, torch, transformers versions, device, dtype, batching.
        model: Spec, type, ``num_layers`` L, hidden size, ``layer_types`` [L], anatomy.
        task: Task name, source and size.
        lens: The fidelity check of the logit lens.
        accuracy: First-token accuracy: fraction of prompts whose final-layer top-1 token
            is the target token (a multi-token answer's first token counts).
        answer_accuracy: Full-answer accuracy (``--full-target`` only): fraction of prompts
            whose every answer token is the model's top-1 under teacher forcing.
        prompts: One row per prompt: target token, ``target_prob`` [L+1], particle, ...
        similarity: Block Influence and angular distance of the clean pass.
        particles, vulnerability, cka, spectral, ablation, causal_tracing, removal,
            agreement, suites: The sections of the methods that ran (``None``: did not run).
        warnings: Things the user should know (fallbacks, unstable layers).
        timing: Seconds per stage, and per counted stage its FLOPs and GFLOP/s
            (:mod:`layertracer.results.timing`).
        arrays: The evidence behind the sections, saved as ``arrays.npz`` beside
            results.json (e.g. ``js [prompts, seeds, L+1]``); read back by :func:`load`.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: int = SCHEMA_VERSION
    tool: Tool
    config: dict[str, Any]
    environment: dict[str, Any]
    model: ModelInfo
    task: TaskInfo
    lens: LensSection
    accuracy: float | None
    answer_accuracy: float | None = None
    prompts: list[PromptRow]
    similarity: SimilaritySection | None = None
    particles: ParticlesSection | None = None
    vulnerability: VulnerabilitySection | None = None
    cka: CKASection | None = None
    spectral: SpectralSection | None = None
    ablation: AblationSection | None = None
    causal_tracing: TracingSection | None = None
    removal: RemovalSection | None = None
    agreement: AgreementSection | None = None
    suites: dict[str, SuiteSummary] | None = None
    warnings: list[str] = []
    timing: dict[str, TimingValue] = {}
    _arrays: dict[str, np.ndarray] = PrivateAttr(default_factory=dict)

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The per-prompt arrays of the run (``arrays.npz``), by name."""
        return self._arrays

    def __eq__(self, other: object) -> bool:
        """Equal results.json objects but for ``timing`` (two identical runs are equal), and
        equal arrays (NaN equal to NaN)."""
        if not isinstance(other, Results):
            return NotImplemented
        mine, theirs = self.arrays, other.arrays
        untimed = [{**r.to_dict(arrays=False), "timing": None} for r in (self, other)]
        return (
            untimed[0] == untimed[1]
            and mine.keys() == theirs.keys()
            and all(np.array_equal(mine[k], theirs[k], equal_nan=True) for k in mine)
        )

    def __repr__(self) -> str:
        """One line: model, task, prompts, layers and the methods that ran."""
        methods = ",".join(self.config.get("methods", ()))
        return (
            f"<Results {self.model.spec} on {self.task.name}: {len(self.prompts)} prompts, "
            f"L={self.model.num_layers}, methods {methods}>"
        )

    __str__ = __repr__

    @model_validator(mode="after")
    def _check(self) -> Results:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version: {self.schema_version}, expected {SCHEMA_VERSION}")
        if self.model.num_layers < 1:
            raise ValueError("model.num_layers: expected a positive integer")
        if not self.prompts:
            raise ValueError("prompts: expected at least one prompt")
        for path, value, shape in per_layer_arrays(self):
            check_length(path, value, shape, self.model.num_layers + 1)
        return self

    def to_dict(self, arrays: bool = True) -> dict[str, Any]:
        """The results.json object: sections not run left out, NaN and infinities ``null``;
        with ``arrays``, also :attr:`arrays` under ``"arrays"`` (``dtype``, ``shape``,
        ``values`` each; results.json leaves them to ``arrays.npz``), so that
        ``Results.from_dict(r.to_dict()) == r``."""
        data = self.model_dump(mode="python", exclude_unset=True)
        data["schema_version"] = SCHEMA_VERSION
        ordered = {"schema_version": SCHEMA_VERSION, **data}
        kept = {k: v for k, v in ordered.items() if v is not None or k == "accuracy"}
        if arrays and self.arrays:
            kept["arrays"] = arrays_to_data(self.arrays)
        return {key: finite(value) for key, value in kept.items()}

    @classmethod
    def from_dict(cls, data: object, where: str = "results") -> Results:
        """Validates a results.json object (strict types: no strings for numbers).

        Raises:
            ResultsError: The first problem, as ``WHERE: json.path: what is wrong``.
        """
        if not isinstance(data, dict):
            raise ResultsError(f"{where}: expected a JSON object, found {type(data).__name__}")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ResultsError(f"{where}: schema_version {version!r}, expected {SCHEMA_VERSION}")
        data = dict(data)
        try:
            arrays = arrays_from_data(data.pop("arrays", {}))
        except ValueError as exc:
            raise ResultsError(f"{where}: {exc}") from None
        try:  # JSON mode: the types a results.json can hold, checked strictly
            results = cls.model_validate_json(json.dumps(data, default=plain), strict=True)
        except ValidationError as exc:
            problem = f"not a valid layertracer results object: {first_problem(exc)}"
            raise ResultsError(f"{where}: {problem}") from None
        results.arrays.update(arrays)
        return results

    @classmethod
    def load(cls, path: str | Path) -> Results:
        """Reads a saved run: a results.json file or a run directory (see :func:`load`)."""
        return load(path)

    def report(self, out_dir: str | Path, topk_prompt: str | int | None = None) -> Path:
        """Writes the figures and ``report.html`` of this run into ``out_dir``, as
        ``layertracer report`` does; returns the path of ``report.html``.

        Raises:
            ReportError: An output path that is not a folder.
        """
        page: Path = views.show("report", self, out_dir, topk_prompt)
        return page

    def to_frame(self, section: str = "lens") -> Any:
        """A tidy pandas DataFrame of one section (long format, one row per observation).

        Args:
            section: ``prompts``, ``lens`` (prompt × layer), ``layers``, ``particles``,
                ``sensitivity``, ``vulnerability`` (seed × layer), ``cka`` (layer ×
                layer), ``ablation``, ``causal_tracing``, ``agreement`` (one row per
                pair) or ``suites``; :mod:`layertracer.results.frames` gives the columns.

        Raises:
            ResultsError: Unknown or absent section (the message lists the available
                ones), or pandas missing (``pip install 'layertracer[notebook]'``).
        """
        return frames.to_frame(self.to_dict(arrays=False), section)

    def figure(self, name: str, prompt: str | int | None = None) -> Any:
        """The matplotlib Figure the report draws as ``<name>.png``.

        Args:
            name: ``lens_heatmap``, ``trajectory``, ``particles``, ``js``, ``cka``,
                ``ablation``, ``tracing`` or ``topk``.
            prompt: For ``topk``: the id or index of the prompt (default: automatic).

        Raises:
            ReportError: Unknown figure, or one this run has no data for.
        """
        return views.show("figure", self, name, prompt)

    def _repr_html_(self) -> str:
        """The notebook view: the summary rows and the main figures, inline.

        The rows are those the terminal and report.html show; the figures are PNG
        ``data:`` URIs, so the notebook keeps them when saved."""
        html: str = views.show("html", self)
        return html

    def save(self, out_dir: str | Path) -> Path:
        """Writes ``results.json``, ``prompts.csv`` and (when the run has arrays)
        ``arrays.npz`` into ``out_dir``; returns the json path."""
        data = self.to_dict(arrays=False)
        text = json.dumps(data, indent=1, allow_nan=False) + "\n"
        table = prompts_csv(data["prompts"])  # all serialised before anything is written
        arrays = arrays_npz(self.arrays) if self.arrays else None
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if arrays is not None:
            atomic_write(out / ARRAYS, arrays)
        atomic_write(out / "prompts.csv", table)
        path = out / "results.json"
        atomic_write(path, text)
        return path


# (section, field, kind): every per-layer field of every section, from the fields' own
# annotations (:class:`~layertracer.schema.section.Layers`).
PER_LAYER = per_layer_table(Results)


def load(path: str | Path) -> Results:
    """Reads and validates a results.json file (or the one inside a run directory).

    Raises:
        ResultsError: No such file, not JSON, or not a valid results object (with the path
            of the first problem).
    """
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: no such file or directory")
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise ResultsError(f"{path}: no results.json here (run `layertracer run --out DIR`)")
    results = Results.from_dict(read_json(file), str(file))
    arrays = file.parent / ARRAYS
    if arrays.is_file():
        try:
            results.arrays.update(read_npz(arrays))
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # truncated, not npz
            raise ResultsError(f"{arrays}: cannot read ({type(exc).__name__}: {exc})") from None
    return results


def per_layer_arrays(results: Results) -> list[tuple[str, Any, str]]:
    """Every per-layer array present, as ``(json path, value, shape)`` (:data:`PER_LAYER`)."""
    found: list[tuple[str, Any, str]] = []
    for section, name, shape in PER_LAYER:
        part = getattr(results, section)
        value = getattr(part, name, None) if part is not None else None
        if value is not None:
            found.append((f"{section}.{name}", value, shape))
    for n, row in enumerate(results.prompts):
        for name, shape in PROMPT_PER_LAYER:
            value = getattr(row, name)
            if value is not None:
                found.append((f"prompts[{n}].{name}", value, shape))
    return found
