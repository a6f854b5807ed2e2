"""Generate the built-in ``word_problems`` suite: short GSM8K-style problems, one number each.

Every item is made from the templates below, with its answer computed; there is no
outside source::

    python scripts/make_word_problems.py           # rewrite .../data/word_problems.jsonl
    python scripts/make_word_problems.py --check   # exit 1 if the file differs

Each template takes two numbers ``x`` and ``y``, which appear in the prompt in that order,
and one operation (``add``, ``sub``, ``mul`` or ``div``); the answer is ``x <op> y``.
The id records them: ``word_problems-007-sub-12-5`` is a problem whose prompt says 12,
then 5, and whose answer is 12 - 5 = 7. Names, objects and numbers are drawn in a fixed
pseudo-random way (SHA-256 of the item number: no ``random`` state); answers are whole
numbers from 2 to 99. Prompts end with ``"Answer: "`` and the target is the digits
(numeric answers: the space is in the prompt, see ``suite_common``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from suite_common import Item, finish, numeric, run

NAME = "word_problems"
MIN_ITEMS = 120
COUNT = 150

# (name, subject pronoun)
PEOPLE = (
    ("Tom", "He"), ("Anna", "She"), ("Ben", "He"), ("Lucy", "She"), ("Sam", "He"),
    ("Emma", "She"), ("Jack", "He"), ("Mia", "She"), ("Leo", "He"), ("Sara", "She"),
    ("Max", "He"), ("Lily", "She"), ("Noah", "He"), ("Zoe", "She"), ("Omar", "He"),
    ("Nina", "She"),
)  # fmt: skip
OBJECTS = (
    "apples", "pencils", "stickers", "marbles", "cookies", "books", "cards",
    "balloons", "stamps", "shells", "oranges", "toy cars",
)  # fmt: skip


@dataclass(frozen=True)
class Template:
    """One kind of problem.

    Attributes:
        key: Short name, for reading the code.
        op: ``add``, ``sub``, ``mul`` or ``div``: the answer is ``x <op> y``.
        text: The prompt, with ``{name}``, ``{pron}``, ``{other}``, ``{obj}``, ``{x}``, ``{y}``.
    """

    key: str
    op: str
    text: str


TEMPLATES = (
    Template(
        "buy", "add",
        "{name} has {x} {obj}. {pron} buys {y} more. How many {obj} does {name} have now?",
    ),
    Template(
        "together", "add",
        "{name} has {x} {obj} and {other} has {y} {obj}. "
        "How many {obj} do they have together?",
    ),
    Template(
        "more-than", "add",
        "{name} has {x} {obj}. {other} has {y} more {obj} than {name}. "
        "How many {obj} does {other} have?",
    ),
    Template(
        "give", "sub",
        "{name} has {x} {obj}. {pron} gives {y} of them to {other}. "
        "How many {obj} does {name} have left?",
    ),
    Template(
        "lose", "sub",
        "There are {x} {obj} in a box. {name} takes {y} of them out. "
        "How many {obj} are still in the box?",
    ),
    Template(
        "fewer-than", "sub",
        "{name} has {x} {obj}. {other} has {y} fewer {obj} than {name}. "
        "How many {obj} does {other} have?",
    ),
    Template(
        "bags", "mul",
        "{name} has {x} bags. Each bag holds {y} {obj}. How many {obj} does {name} have in all?",
    ),
    Template(
        "rows", "mul",
        "{name} puts {obj} in {x} rows with {y} {obj} in each row. "
        "How many {obj} are there in total?",
    ),
    Template(
        "share", "div",
        "{name} shares {x} {obj} equally among {y} friends. How many {obj} does each friend get?",
    ),
    Template(
        "groups", "div",
        "{name} puts {x} {obj} into groups of {y}. How many groups does {name} make?",
    ),
)  # fmt: skip


def answer(op: str, x: int, y: int) -> int:
    """``x <op> y`` for the four operations (``div`` must divide exactly)."""
    if op == "add":
        return x + y
    if op == "sub":
        return x - y
    if op == "mul":
        return x * y
    if op == "div":
        if y == 0 or x % y:
            raise ValueError(f"{x} / {y} is not a whole number")
        return x // y
    raise ValueError(f"unknown operation {op!r}")


def draw(number: int, field: str, size: int) -> int:
    """A fixed pseudo-random index in ``range(size)`` for one field of item ``number``."""
    digest = hashlib.sha256(f"{NAME}:{number}:{field}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % size


def operands(number: int, op: str) -> tuple[int, int]:
    """The numbers ``x``, ``y`` of item ``number``; every answer is in 1..99."""
    if op == "add":
        x = 2 + draw(number, "x", 40)
        return x, 2 + draw(number, "y", min(40, 98 - x))
    if op == "sub":
        x = 5 + draw(number, "x", 45)
        return x, 2 + draw(number, "y", x - 3)
    quotient, y = 2 + draw(number, "x", 8), 2 + draw(number, "y", 8)
    return (quotient, y) if op == "mul" else (quotient * y, y)


def build_items() -> list[Item]:
    """``COUNT`` problems, cycling through the templates, skipping repeated prompts."""
    items: list[Item] = []
    prompts: set[str] = set()
    number = 0
    while len(items) < COUNT:
        template = TEMPLATES[number % len(TEMPLATES)]
        name, pron = PEOPLE[draw(number, "name", len(PEOPLE))]
        other, _ = PEOPLE[draw(number, "other", len(PEOPLE))]
        obj = OBJECTS[draw(number, "obj", len(OBJECTS))]
        x, y = operands(number, template.op)
        number += 1
        if other == name:
            continue
        prompt = template.text.format(name=name, pron=pron, other=other, obj=obj, x=x, y=y)
        if prompt in prompts:
            continue
        prompts.add(prompt)
        item_id = f"{NAME}-{len(items) + 1:03d}-{template.op}-{x}-{y}"
        items.append(numeric(item_id, f"{prompt} Answer:", answer(template.op, x, y)))
    return items


def generate() -> str:
    """The suite's JSONL text."""
    return finish(NAME, build_items(), MIN_ITEMS)


if __name__ == "__main__":
    run(NAME, generate, __doc__)
