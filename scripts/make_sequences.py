"""Generate the built-in ``sequences`` suite: continue days, months, letters and counts.

Every item is computed here; there is no outside source::

    python scripts/make_sequences.py           # rewrite .../data/sequences.jsonl
    python scripts/make_sequences.py --check   # exit 1 if the file differs

Items (the prompt lists the first terms, each followed by ``", "``; the target is the next):

- days of the week, 3 or 4 terms from every day, wrapping from Sunday to Monday:
  ``"Monday, Tuesday, Wednesday,"`` -> ``" Thursday"``;
- months, 3 or 4 terms from every month, wrapping from December to January;
- letters, upper and lower case, 4 terms: ``"A, B, C, D,"`` -> ``" E"``;
- counting by 1, 2, 5 and 10, 4 terms, answers below 100:
  ``"1, 2, 3, 4, "`` -> ``"5"`` (numeric answers: the space is in the prompt, see
  ``suite_common``).

The file is in a fixed pseudo-random order (SHA-256 of the id) so that its first items
mix every kind (``--max-prompts`` keeps the first N).
"""

from __future__ import annotations

import string

from suite_common import Item, finish, item, numeric, run, stable_order

NAME = "sequences"
MIN_ITEMS = 120
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
LETTERS = {"upper": string.ascii_uppercase, "lower": string.ascii_lowercase}
# step -> the first terms counted from
COUNTS = {1: range(1, 21), 2: range(0, 21), 5: range(0, 75, 5), 10: range(0, 70, 10)}
TERMS = 4


def cyclic(kind: str, names: tuple[str, ...]) -> list[Item]:
    """3 and 4 consecutive names from every start (wrapping); the next name is the target."""
    items = []
    for start, first in enumerate(names):
        for terms in (3, 4):
            shown = [names[(start + k) % len(names)] for k in range(terms)]
            prompt = ", ".join(shown) + ","
            target = " " + names[(start + terms) % len(names)]
            items.append(item(f"{NAME}-{kind}-{first.lower()}-{terms}", prompt, target))
    return items


def letters() -> list[Item]:
    """``TERMS`` consecutive letters from every start that leaves a next letter."""
    items = []
    for case, alphabet in LETTERS.items():
        for start in range(len(alphabet) - TERMS):
            shown = alphabet[start : start + TERMS]
            prompt = ", ".join(shown) + ","
            items.append(
                item(
                    f"{NAME}-letters-{case}-{shown[0].lower()}",
                    prompt,
                    f" {alphabet[start + TERMS]}",
                )
            )
    return items


def counts() -> list[Item]:
    """``TERMS`` terms of counting by every step in ``COUNTS``; the next term is the target."""
    items = []
    for step, starts in COUNTS.items():
        for start in starts:
            shown = [start + k * step for k in range(TERMS)]
            prompt = ", ".join(str(n) for n in shown) + ","
            items.append(numeric(f"{NAME}-by{step}-from-{start}", prompt, start + TERMS * step))
    return items


def build_items() -> list[Item]:
    """Every item, in the file's order."""
    rows = cyclic("days", DAYS) + cyclic("months", MONTHS) + letters() + counts()
    by_id = {row["id"]: row for row in rows}
    return [by_id[item_id] for item_id in stable_order(by_id, NAME)]


def generate() -> str:
    """The suite's JSONL text."""
    return finish(NAME, build_items(), MIN_ITEMS)


if __name__ == "__main__":
    run(NAME, generate, __doc__)
