"""Generate the built-in ``arithmetic`` suite: one- and two-digit sums, differences, products.

Every item is computed here; there is no outside source::

    python scripts/make_arithmetic.py           # rewrite .../data/arithmetic.jsonl
    python scripts/make_arithmetic.py --check   # exit 1 if the file differs

Prompt ``"3 + 4 = "`` with target ``"7"``: the space is in the prompt because most
tokenizers split it from the digits (see ``suite_common``). Rules:

- operands have one or two digits; answers are whole numbers from 0 to 99, so that
  they are one or two digit tokens;
- each operation has a few kinds of operands (one-digit with one-digit, two-digit with
  one-digit, two-digit with two-digit), and a fixed number of items of each kind is
  drawn in a fixed pseudo-random order (SHA-256 of the id: no ``random`` state);
- the file is in that pseudo-random order too, so that its first items mix every
  operation (``--max-prompts`` keeps the first N).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from suite_common import Item, finish, numeric, run, stable_order

NAME = "arithmetic"
MIN_ITEMS = 120
ONE = range(1, 10)
TWO = range(10, 100)

OPS: dict[str, tuple[str, Callable[[int, int], int]]] = {
    "add": ("+", lambda a, b: a + b),
    "sub": ("-", lambda a, b: a - b),
    "mul": ("*", lambda a, b: a * b),
}

# (operation, kind, first operands, second operands, how many items)
KINDS: tuple[tuple[str, str, range, range, int], ...] = (
    ("add", "1+1", ONE, ONE, 15),
    ("add", "2+1", TWO, ONE, 15),
    ("add", "2+2", TWO, TWO, 15),
    ("sub", "1-1", ONE, ONE, 15),
    ("sub", "2-1", TWO, ONE, 15),
    ("sub", "2-2", TWO, TWO, 15),
    ("mul", "1*1", range(2, 10), range(2, 10), 25),
    ("mul", "2*1", TWO, range(2, 10), 20),
)


def answer(op: str, a: int, b: int) -> int:
    """The answer of ``a <op> b`` (``op`` is ``add``, ``sub`` or ``mul``)."""
    return OPS[op][1](a, b)


def candidates(op: str, first: range, second: range) -> Iterator[tuple[int, int]]:
    """Every operand pair of one kind whose answer is in 0..99."""
    for a in first:
        for b in second:
            if 0 <= answer(op, a, b) < 100:
                yield a, b


def build_items() -> list[Item]:
    """Draw the items of every kind; return them in the file's order."""
    chosen: dict[str, Item] = {}
    for op, kind, first, second, count in KINDS:
        pairs = {f"{NAME}-{op}-{a}-{b}": (a, b) for a, b in candidates(op, first, second)}
        if len(pairs) < count:
            raise SystemExit(f"make_{NAME}: only {len(pairs)} {kind} pairs, need {count}")
        for item_id in stable_order(pairs, f"{NAME}:{kind}")[:count]:
            a, b = pairs[item_id]
            chosen[item_id] = numeric(item_id, f"{a} {OPS[op][0]} {b} =", answer(op, a, b))
    return [chosen[item_id] for item_id in stable_order(chosen, NAME)]


def generate() -> str:
    """The suite's JSONL text."""
    return finish(NAME, build_items(), MIN_ITEMS)


if __name__ == "__main__":
    run(NAME, generate, __doc__)
