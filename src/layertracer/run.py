"""What every analysis stage of a run sees: the model, its anatomy, the prompts, the clean
pass and the results so far (:class:`Run`), and how a stage reports progress.

A stage is a function ``stage(run) -> None`` that adds its typed section to
``run.results`` (and its per-prompt fields to the prompt rows), from which the criteria of
:mod:`layertracer.results.criteria` are read; :mod:`layertracer.pipeline` calls the
selected ones in order.

Recipe for a stage's batch loop (this rank's prompts, halving the batch on GPU
out-of-memory): ``run.each_batch(name, work)`` instead of ``for b in run.batches(): work(b)``,
then ``run.gather(per_prompt)`` before summarising (``work`` must be retry-safe).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import torch

from layertracer.config import RunConfig
from layertracer.engine.batch_size import BatchSizer
from layertracer.engine.batching import Batch, build_batch, first_prompt, plan_batches
from layertracer.engine.channels import replay_blocker, shared_modules, side_channels
from layertracer.engine.checkpoint import Checkpoints
from layertracer.engine.distributed import World
from layertracer.engine.flops import ModelCost, model_cost
from layertracer.engine.replay import ReplayPath
from layertracer.methods.vulnerability.stats import ActivationStats
from layertracer.model.anatomy import Anatomy
from layertracer.model.load import LoadedModel, input_device
from layertracer.model.sites import SiteMap
from layertracer.model.tuned import TunedLens
from layertracer.results import Results
from layertracer.tasks import Task
from layertracer.tasks.encode import Encoded

T = TypeVar("T")


class Progress(Protocol):
    """Receives progress: ``with progress.stage(name, total) as advance: advance()``."""

    def stage(self, name: str, total: int) -> contextlib.AbstractContextManager[Callable[[], None]]:
        """A context for one stage of ``total`` steps; yields a function to call per step."""


class SilentProgress:
    """A :class:`Progress` that shows nothing."""

    @contextlib.contextmanager
    def stage(self, name: str, total: int) -> Iterator[Callable[[], None]]:
        """Yields a no-op step function."""
        yield lambda: None


@dataclass
class CleanPass:
    """What the clean lens pass returns.

    Attributes:
        target_prob: Lens probability of the target per prompt and layer. ``[N, L+1]``
        topk_ids: Top tokens of the lens per prompt and layer. ``[N, L+1, k]``
        topk_probs: Their probabilities. ``[N, L+1, k]``
        fidelity: Max ``|Δ log-prob|`` of the last-layer lens against the model's output.
        stats: Clean activation statistics of every layer state.
        bi: Block Influence per prompt and layer (docs/method.md#block-influence).
            ``[N, L+1]``
        angular: Angular distance per prompt and layer (span ``removal.span``). ``[N, L+1]``
        other_target_prob: The target's probability under the other lens (the logit lens
            of a tuned-lens run, the tuned lens of a logit-lens run whose model has one in
            the cache); ``None`` when there is none. ``[N, L+1]``
    """

    target_prob: torch.Tensor
    topk_ids: torch.Tensor
    topk_probs: torch.Tensor
    fidelity: float
    stats: ActivationStats
    bi: torch.Tensor
    angular: torch.Tensor
    other_target_prob: torch.Tensor | None = None


@dataclass
class Run:
    """One run in progress, as the stages see it.

    Attributes:
        lm: The loaded model and tokenizer.
        anatomy: Blocks, final norm, unembedding and logit transform.
        config: The run's options.
        task: The task (after ``--shots`` and ``--max-prompts``).
        encoded: Each item's tokens and target token, in task order.
        progress: Where stages report progress.
        timing: Seconds per stage, filled by :meth:`stage`.
        flops: FLOPs per stage whose work is counted (:mod:`layertracer.engine.flops`),
            filled by the stages; ``None``: not counted.
        clean: The clean lens pass (a property: set after it ran, an error before).
        results: The results so far (a property: set after the clean pass).
        sites: Where the vulnerability scan perturbs (found before the lens pass).
        kept: What stages keep for the criteria without publishing it, by name (CKA's
            Gram matrices ``cka_grams``, :mod:`layertracer.results.criteria`).
        world: This process among the data-parallel processes (one by default).
        batch_size: Prompts per planned batch (``--batch-size``, ``auto`` resolved).
        sizers: Per stage, the adaptive batch size of :meth:`each_batch`.
        checkpoints: Where stages checkpoint their batches (``None``: no checkpoints).
        tuned: The model's tuned lens and its record (``None``: not used, none cached).
    """

    lm: LoadedModel
    anatomy: Anatomy
    config: RunConfig
    task: Task
    encoded: list[Encoded]
    progress: Progress = field(default_factory=SilentProgress)
    timing: dict[str, float] = field(default_factory=dict)
    flops: dict[str, float | None] = field(default_factory=dict)
    sites: SiteMap | None = None
    kept: dict[str, Any] = field(default_factory=dict)
    world: World = field(default_factory=World)
    batch_size: int = 8
    sizers: dict[str, BatchSizer] = field(default_factory=dict)
    checkpoints: Checkpoints | None = None
    tuned: tuple[TunedLens, dict[str, Any]] | None = None
    _step: Callable[[], None] = field(default=lambda: None, repr=False)
    _per_batch: int = field(default=1, repr=False)
    _channels: dict[int, str] | None = field(default=None, repr=False)
    _clean: CleanPass | None = field(default=None, repr=False)
    _results: Results | None = field(default=None, repr=False)

    @property
    def clean(self) -> CleanPass:
        """The clean lens pass (set by :mod:`layertracer.stages.clean`, the first stage).

        Raises:
            RuntimeError: Read before the clean pass ran (a stage out of order).
        """
        if self._clean is None:
            raise RuntimeError("run.clean read before the clean lens pass ran")
        return self._clean

    @clean.setter
    def clean(self, value: CleanPass) -> None:
        self._clean = value

    @property
    def results(self) -> Results:
        """The results so far (set after the clean pass).

        Raises:
            RuntimeError: Read before they were set (a stage out of order).
        """
        if self._results is None:
            raise RuntimeError("run.results read before the clean lens pass set them")
        return self._results

    @results.setter
    def results(self, value: Results) -> None:
        self._results = value

    _cost: ModelCost | None = field(default=None, repr=False)

    @property
    def device(self) -> torch.device:
        """Where the batches go: the input embedding's device (first device of a map)."""
        return input_device(self.lm.model)

    @property
    def cost(self) -> ModelCost:
        """The model's FLOPs per block and token (:mod:`layertracer.engine.flops`)."""
        if self._cost is None:
            self._cost = model_cost(self.lm.model, self.anatomy)
        return self._cost

    @property
    def lengths(self) -> list[int]:
        """Every prompt's token count, in run order (the FLOP counts' input)."""
        return [len(e.input_ids) for e in self.encoded]

    @property
    def num_batches(self) -> int:
        """Batches per pass over this process's prompts."""
        return len(self._plan())

    def _plan(self) -> list[list[int]]:
        """This rank's batches: every ``world.size``-th of the run's length-sorted plan."""
        plan = plan_batches([e.input_ids for e in self.encoded], self.batch_size)
        return self.world.shard(plan)

    def batches(self) -> Iterator[Batch]:
        """One pass over this process's prompts as right-padded batches
        (:mod:`~layertracer.engine.batching`). :attr:`encoded` stays the full list;
        ``batch.index`` indexes it."""
        pad = self.lm.tokenizer.pad_token_id or 0
        ids = [e.input_ids for e in self.encoded]
        targets = [e.target_id for e in self.encoded]
        device = self.device
        for index in self._plan():
            yield build_batch(ids, targets, index, pad, device)

    def each_batch(
        self, name: str, work: Callable[[Batch], None], state: object | None = None
    ) -> None:
        """Calls ``work(batch)`` over :meth:`batches`, splitting a batch in halves on GPU
        out-of-memory and keeping the smaller size for the rest of stage ``name``.

        With ``state`` (the stage's per-prompt results, a dataclass that ``work`` fills) and
        :attr:`checkpoints`, the state is checkpointed as batches finish, and a resumed run
        loads it and skips the batches done (their progress steps are counted at once)."""
        sizer = self.sizers.setdefault(name, BatchSizer(self.batch_size))
        saver = self.checkpoints if state is not None else None
        done = saver.load(name, state) if saver is not None else set()
        for batch in self.batches():
            key = tuple(batch.index)
            if key in done:
                for _ in range(self._per_batch):
                    self._step()
                continue
            sizer.run(batch, work)
            if saver is not None:
                done.add(key)
                saver.save(name, done, state)
        if saver is not None:
            saver.save(name, done, state, final=True)

    def blocks_outside_the_stream(self) -> dict[int, str]:
        """Blocks (1-based) that act on later blocks other than through their output — a
        module shared by two positions, or a side channel measured on the first prompt of
        this process (union over processes) — with why; probed once per run
        (:mod:`layertracer.engine.channels`)."""
        if self._channels is None:
            with self.stage("replay_check", 1) as step:
                first = next(iter(self.batches()), None)
                mine = {}
                if first is not None:
                    mine = side_channels(self.lm.model, self.anatomy, first_prompt(first))
                step()
            found = dict(shared_modules(self.anatomy.blocks))
            for part in self.world.all_gather(mine):
                for block, reason in part.items():
                    found.setdefault(block, reason)
            self._channels = dict(sorted(found.items()))
        return self._channels

    def replay_blocker(self, replay: bool) -> str | None:
        """Why a method asked to replay (``replay``) must use full passes instead, or
        ``None`` (docs/method.md#replay)."""
        return replay_blocker(self.blocks_outside_the_stream()) if replay else None

    def warn_fallback(self, method: str, replay: ReplayPath) -> None:
        """Adds the run's warning when ``method``'s scan fell back to full passes
        (:meth:`ReplayPath.warning`)."""
        if (warning := replay.warning(method)) is not None:
            self.results.warnings.append(warning)

    def gather(self, per_prompt: dict[int, T]) -> dict[int, T]:
        """Per-prompt values from every process, keyed by prompt index (index in
        :attr:`encoded`). A stage computes its per-prompt values over :meth:`batches`,
        gathers them here, and summarises the whole run from the gathered values only.
        In one process this returns ``per_prompt`` itself."""
        return self.world.gather(per_prompt)

    @contextlib.contextmanager
    def stage(self, name: str, total: int) -> Iterator[Callable[[], None]]:
        """Times stage ``name`` into :attr:`timing`, runs it under ``inference_mode`` and
        yields the progress step function of ``total`` steps."""
        outer = self._step, self._per_batch  # a stage may run inside another's
        with (
            timed(self.timing, name),
            torch.inference_mode(),
            self.progress.stage(name, total) as step,
        ):
            self._step, self._per_batch = step, max(1, total // max(1, self.num_batches))
            try:
                yield step
            finally:
                self._step, self._per_batch = outer


@contextlib.contextmanager
def timed(timing: dict[str, float], name: str) -> Iterator[None]:
    """Adds the seconds spent in the block to ``timing[name]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timing[name] = round(timing.get(name, 0.0) + time.perf_counter() - start, 4)
