"""What a run feeds the model: a task's items, or the windows of a text, tokenized.

Loading (:func:`load_input`) comes before the model is loaded, so a bad task or text file
fails fast; encoding (:func:`encode_input`) needs the model's tokenizer.
"""

from __future__ import annotations

from typing import Any

from layertracer.config import RunConfig
from layertracer.errors import TaskError
from layertracer.tasks import Task, few_shot, load_tasks
from layertracer.tasks.encode import Encoded, chat_prompt, encode
from layertracer.tasks.inline import inline_task
from layertracer.tasks.text import TextSample, load_text, text_rows


def load_input(task: object, config: RunConfig) -> Task | TextSample:
    """The run's task (with ``--shots`` and ``--max-prompts`` applied) or its text.

    Args:
        task: A ``--task`` value (suite, file, dataset folder or comma list), a loaded
            task, a list of items or a DataFrame (:mod:`.inline`), or None in text mode.
        config: The run's options (``inputs.text`` selects text mode).

    Raises:
        TaskError: A bad task or text, or neither given.
    """
    if config.inputs.text:
        return load_text(config.inputs.text)
    if task is None:
        raise TaskError("no task given (use --task or --text)")
    if isinstance(task, str):
        fields, split = config.inputs.fields, config.inputs.split
        return load_tasks(task, config.max_prompts, config.shots, fields, split)
    if not isinstance(task, Task):  # a list of items or a DataFrame; anything else: TaskError
        task = inline_task(task, config.inputs.fields)
    return few_shot(task, config.shots, limit=config.max_prompts)


def encode_input(
    source: Task | TextSample, tokenizer: Any, config: RunConfig
) -> tuple[Task, list[Encoded]]:
    """The task of the run and every item's tokens and target token.

    A text becomes one item per (window, position) (:func:`layertracer.tasks.text.text_rows`);
    with ``inputs.chat_template`` each prompt is wrapped in the chat template first.

    Raises:
        TaskError: An item whose target adds no token.
        ConfigError: ``--chat-template`` with a tokenizer that has none.
    """
    if isinstance(source, TextSample):
        return text_rows(source, tokenizer, config.inputs.text_window, config.max_prompts)
    if not config.inputs.chat_template:
        return source, [encode(tokenizer, it.prompt, it.target, it.id) for it in source.items]
    encoded = [
        encode(tokenizer, chat_prompt(tokenizer, it.prompt), it.target, it.id, special=False)
        for it in source.items
    ]
    return source, encoded
