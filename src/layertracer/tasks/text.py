"""Text mode (the paper's WikiText setting): next-token prediction at every position of a text.

``layertracer run --text FILE`` (or ``--text builtin:gettysburg``, the shipped sample)
tokenizes the whole text once, without special tokens, and cuts the tokens into windows of
``W`` tokens (``--text-window``, default 32; the last window may be shorter, down to 2
tokens). Every window position ``t = 1..len-1`` becomes one row: its input is the
tokenizer's own leading special tokens (e.g. BOS) followed by the window's first ``t``
tokens — built from ids, never re-tokenized — and its target is token ``t``. Row ids are
``w<window>:p<t>``; rows have no subject.

The model is causal, so perturbing every position of a row's input and reading its last
position is the same as perturbing the whole window and reading position ``t``: the usual
per-run aggregates over rows (particle median, JS per layer, ...) are the aggregates over
positions. It costs about ``W/2`` times a single multi-position pass over each window.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from layertracer.errors import TaskError
from layertracer.tasks.encode import Encoded
from layertracer.tasks.schema import Task, TaskItem

BUILTIN = "builtin:"
DEFAULT_WINDOW = 32


@dataclass(frozen=True)
class TextSample:
    """A text to read.

    Attributes:
        name: The sample's name (file stem).
        source: ``builtin:<name>`` or the path as given.
        text: The whole text.
    """

    name: str
    source: str
    text: str


def builtin_texts() -> list[str]:
    """Names of the shipped text samples."""
    folder = resources.files("layertracer.tasks").joinpath("data", "text")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt"))


def load_text(spec: str) -> TextSample:
    """Read a text file, or a shipped sample named ``builtin:<name>``.

    Raises:
        TaskError: Unknown sample, missing or unreadable file, not UTF-8, or no text.
    """
    if spec.startswith(BUILTIN):
        name = spec.removeprefix(BUILTIN)
        if name not in builtin_texts():
            raise TaskError(f"no built-in text {name!r} (built-in: {', '.join(builtin_texts())})")
        path = resources.files("layertracer.tasks").joinpath("data", "text", f"{name}.txt")
        return TextSample(name, spec, path.read_text(encoding="utf-8"))
    path = Path(spec)
    if not path.is_file():
        raise TaskError(f"--text {spec}: no such file (built-in: {BUILTIN}gettysburg)")
    try:
        data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
        text = data.decode("utf-8")
    except OSError as err:
        raise TaskError(f"{spec}: cannot read the file ({err.strerror})") from err
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise TaskError(f"{spec}:{line}: not UTF-8 text; save the file as UTF-8") from err
    if not text.strip():
        raise TaskError(f"{spec}: the text is empty")
    return TextSample(path.stem, spec, text)


def special_prefix(tokenizer: Any) -> list[int]:
    """The special tokens the tokenizer puts before a text (e.g. ``[BOS]``, or none)."""
    with_special = list(tokenizer("a")["input_ids"])
    plain = list(tokenizer("a", add_special_tokens=False)["input_ids"])
    cut = len(with_special) - len(plain)
    return with_special[:cut] if cut > 0 and with_special[cut:] == plain else []


def text_rows(
    sample: TextSample, tokenizer: Any, window: int, max_rows: int | None = None
) -> tuple[Task, list[Encoded]]:
    """One row per (window, position) of the text, as a task and its encoded rows.

    Args:
        sample: The text.
        tokenizer: The model's tokenizer.
        window: Tokens per window ``W`` (>= 2).
        max_rows: Keep only the first this many rows (None: all).

    Returns:
        The task (items with ids ``w<k>:p<t>``, the decoded prefix as prompt, the decoded
        target token as target) and, per item, its token ids and target token.

    Raises:
        TaskError: The text has fewer than 2 tokens.
    """
    ids = list(tokenizer(sample.text, add_special_tokens=False)["input_ids"])
    if len(ids) < 2:
        raise TaskError(f"{sample.source}: the text has {len(ids)} token(s); need at least 2")
    prefix = special_prefix(tokenizer)
    items: list[TaskItem] = []
    encoded: list[Encoded] = []
    for k, start in enumerate(range(0, len(ids), window)):
        chunk = ids[start : start + window]
        for t in range(1, len(chunk)):
            if max_rows is not None and len(items) == max_rows:
                break
            target = chunk[t]
            items.append(
                TaskItem(
                    id=f"w{k}:p{t}",
                    prompt=tokenizer.decode(chunk[:t]),
                    target=tokenizer.decode([target]),
                    suite=sample.name,
                )
            )
            encoded.append(Encoded(tuple(prefix + chunk[:t]), target, (target,)))
    task = Task(name=sample.name, source=sample.source, items=tuple(items))
    return task, encoded
