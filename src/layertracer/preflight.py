"""Checks made after tokenising and before any forward pass, so that a run that cannot work
stops at once with one line (docs/decisions.md#context-and-memory).

- Context: prompts longer than the model's context (:func:`layertracer.model.limits.
  context_length`; none for a pure recurrent model) are refused, listing their ids and
  lengths, unless ``--truncate left`` keeps their last tokens (recorded per prompt).
- Vocabulary: a token id (of a prompt, a target, or the padding) without a row in the
  model's input embedding (a tokenizer larger than the model's) is refused, with both sizes.
- Memory: a rough estimate of the run's peak memory (:func:`layertracer.engine.batch_size.
  per_prompt_bytes` for the largest batch, plus the lens's logits) above what the device
  has free is refused with both numbers and the options that help.
"""

from __future__ import annotations

import dataclasses

from layertracer.engine.batch_size import per_prompt_bytes
from layertracer.errors import ConfigError, ModelError
from layertracer.model.hf import as_hf
from layertracer.model.lens import LENS_BUDGET
from layertracer.model.limits import available_memory
from layertracer.model.load import LoadedModel
from layertracer.run import Run
from layertracer.tasks import Task
from layertracer.tasks.encode import Encoded

SHOWN = 5  # prompts named in the error


def fit_context(
    task: Task, encoded: list[Encoded], limit: int | None, truncate: str, extra: bool = False
) -> list[Encoded]:
    """The encoded prompts within the context ``limit`` (``Encoded.truncated``: the tokens
    removed from a prompt's start).

    Args:
        task: The task (for the ids in messages).
        encoded: Each prompt's tokens.
        limit: The model's context length, or ``None`` (no limit).
        truncate: ``none`` (refuse) or ``left`` (keep the last ``limit`` tokens).
        extra: The model also reads the answer's tokens but the last (``--full-target``).

    Raises:
        ConfigError: A prompt too long without ``--truncate left``.
    """
    if limit is None:
        return encoded

    def length(e: Encoded) -> int:
        return len(e.input_ids) + (len(e.answer_ids) - 1 if extra else 0)

    pairs = zip(task.items, encoded, strict=True)
    long = [(item.id, length(e)) for item, e in pairs if length(e) > limit]
    if not long:
        return encoded
    if truncate != "left":
        named = ", ".join(f"{i} ({n} tokens)" for i, n in long[:SHOWN])
        more = f" and {len(long) - SHOWN} more" if len(long) > SHOWN else ""
        raise ConfigError(
            f"{len(long)} prompt(s) exceed the model's context of {limit} tokens: {named}{more}; "
            f"shorten them or pass --truncate left to keep their last tokens"
        )
    cuts = [max(0, length(e) - limit) for e in encoded]
    return [
        dataclasses.replace(e, input_ids=e.input_ids[cut:], truncated=cut) if cut else e
        for e, cut in zip(encoded, cuts, strict=True)
    ]


def check_vocabulary(lm: LoadedModel, encoded: list[Encoded]) -> None:
    """Refuses token ids that the model's input embedding has no row for.

    Raises:
        ModelError: The largest id in use is ``>=`` the embedding's rows (both sizes named).
    """
    embedding = as_hf(lm.model).get_input_embeddings()
    rows = getattr(embedding, "num_embeddings", None)
    if rows is None:
        return
    used = [lm.tokenizer.pad_token_id or 0]
    for e in encoded:
        used.extend((*e.input_ids, e.target_id, *e.answer_ids))
    if max(used) >= rows:
        raise ModelError(
            f"the tokenizer's vocabulary ({len(lm.tokenizer)} tokens) is larger than the "
            f"model's embedding ({rows} rows): token id {max(used)} has no embedding; give "
            "the model its own tokenizer"
        )


def check_memory(run: Run) -> None:
    """Refuses a run whose estimated peak memory exceeds what the device has free.

    Raises:
        ConfigError: The estimate, what is free, and the options that lower the need.
    """
    free = available_memory(run.device)
    if free is None:
        return
    model, anatomy, config = run.lm.model, run.anatomy, run.config
    tokens = max((len(e.input_ids) for e in run.encoded), default=1)
    tracing = config.tracing.copies if "tracing" in config.methods else 1
    copies = max(len(config.vulnerability.seeds), tracing)
    itemsize = next(model.parameters()).element_size()
    per_prompt = per_prompt_bytes(
        model.config, anatomy.num_layers, anatomy.hidden_size, tokens, copies, itemsize
    )
    need = min(run.batch_size, len(run.encoded)) * per_prompt + 3 * LENS_BUDGET * 4
    if need > free:
        raise ConfigError(
            f"the run needs about {_gib(need)} (batches of {run.batch_size} prompts of up to "
            f"{tokens} tokens, {copies} copies stacked) but {_gib(free)} is free on "
            f"{run.device}; lower --batch-size (down to 1) or shorten the longest prompts"
        )


def _gib(size: float) -> str:
    return f"{size / 2**30:.1f} GiB"
