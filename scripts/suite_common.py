"""What every ``scripts/make_<suite>.py`` generator shares: rendering, checks, ``--check``.

A generator builds a list of items (dicts with ``id``, ``prompt``, ``target`` and
optionally ``subject``), and hands it to :func:`finish`, which checks the items the way
the loader will (unique ids and prompts, subjects inside prompts, enough items) and
renders the JSONL text. :func:`main` writes that text to the suite's data file, or with
``--check`` compares it with the file and exits 1 when they differ.

Numeric answers: most tokenizers (SmolLM2, Llama 2/3, Mistral, Qwen, ...) split the
space before a digit into a token of its own, so with a target ``" 7"`` the target token
would be that bare space. Prompts whose answer is a number therefore end with the space
and the target is the digits alone (``"3 + 4 = "`` -> ``"7"``); see :func:`numeric`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "layertracer" / "tasks" / "data"
KEYS = ("id", "prompt", "target", "subject")

Item = dict[str, str]


def item(item_id: str, prompt: str, target: str, subject: str | None = None) -> Item:
    """One suite item; ``subject`` is left out when None."""
    row = {"id": item_id, "prompt": prompt, "target": target}
    if subject is not None:
        row["subject"] = subject
    return row


def numeric(item_id: str, prompt: str, answer: int) -> Item:
    """An item whose answer is a number: the prompt ends with a space, the target is digits.

    Args:
        item_id: The item id.
        prompt: The prompt without a trailing space (``"3 + 4 ="``).
        answer: The answer.
    """
    return item(item_id, prompt + " ", str(answer))


def stable_order(keys: Iterable[str], salt: str) -> list[str]:
    """Sort ``keys`` in a pseudo-random order that never changes (SHA-256, not ``random``).

    Args:
        keys: Distinct strings.
        salt: Mixed into the hash so that different suites get different orders.
    """
    return sorted(keys, key=lambda key: hashlib.sha256(f"{salt}:{key}".encode()).hexdigest())


def finish(name: str, items: list[Item], min_items: int) -> str:
    """Check the items and return the suite's JSONL text.

    Args:
        name: The suite name (for messages).
        items: The items, in file order.
        min_items: The fewest items the suite promises (``min_items`` in suites.json).

    Raises:
        SystemExit: Naming the first problem: a duplicate id or prompt, a subject not
            in its prompt exactly once (causal tracing must know which span to corrupt),
            an empty prompt or target, a target glued to its prompt, an unknown key, or
            too few items.
    """
    for key in ("id", "prompt"):
        seen: set[str] = set()
        for row in items:
            if row[key] in seen:
                raise SystemExit(f"make_{name}: duplicate {key} {row[key]!r}")
            seen.add(row[key])
    for row in items:
        extra = set(row) - set(KEYS)
        if extra:
            raise SystemExit(f"make_{name}: item {row['id']!r} has unknown keys {sorted(extra)}")
        if not row["target"].strip() or not row["prompt"].strip():
            raise SystemExit(f"make_{name}: item {row['id']!r} has an empty prompt or target")
        if "subject" in row and row["prompt"].count(row["subject"]) != 1:
            raise SystemExit(f"make_{name}: item {row['id']!r}: subject not once in the prompt")
        glued = not row["prompt"][-1].isspace() and not row["target"][0].isspace()
        if glued:
            raise SystemExit(f"make_{name}: item {row['id']!r}: no space before the target")
    if len(items) < min_items:
        raise SystemExit(f"make_{name}: only {len(items)} items (need {min_items})")
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in items)


def main(
    name: str, generate: Callable[[], str], doc: str | None, argv: list[str] | None = None
) -> int:
    """Write (or, with ``--check``, compare) ``data/<name>.jsonl``. Returns the exit status.

    Args:
        name: The suite name.
        generate: Returns the suite's JSONL text.
        doc: The generator's module docstring (its first line is the ``--help`` text).
        argv: The command-line arguments (None: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=(doc or name).splitlines()[0])
    out = DATA / f"{name}.jsonl"
    parser.add_argument("--out", type=Path, default=out, help="where to write the JSONL")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs")
    args = parser.parse_args(argv)
    text = generate()
    count = text.count("\n")
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'DIFFERS from the source'} ({count} items)")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {count} items to {args.out}")
    return 0


def run(name: str, generate: Callable[[], str], doc: str | None) -> None:
    """``sys.exit(main(...))``: the body of every generator's ``__main__`` block."""
    sys.exit(main(name, generate, doc))
