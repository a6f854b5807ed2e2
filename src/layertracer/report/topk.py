"""The classic logit-lens table: the top-k decoded tokens at every layer for one prompt.

Needs ``prompts[i].topk``: per layer state (``L+1``), a list of ``[token, probability]``
pairs, most probable first. Runs without it get a note in the report instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from layertracer.errors import ReportError
from layertracer.report.data import num_layers
from layertracer.report.style import ACCENT, ReportFigure, shorten


def has_topk(data: dict[str, Any]) -> bool:
    """Whether the run recorded top-k tokens for its prompts."""
    return any(isinstance(row.get("topk"), list) and row["topk"] for row in data["prompts"])


def choose_prompt(data: dict[str, Any], wanted: str | int | None = None) -> int | None:
    """Index of the prompt to show: ``wanted`` (id or index), else a telling default.

    The default is the first correct prompt with a particle, else the first correct one,
    else the first prompt with top-k data. ``None`` when no prompt has top-k data.

    Raises:
        ReportError: ``wanted`` is neither a prompt's id nor an index of one with top-k data.
    """
    rows = data["prompts"]
    usable = [n for n, row in enumerate(rows) if _valid(row.get("topk"), num_layers(data))]
    if not usable:
        return None
    if wanted is not None:
        for n in usable:
            if str(rows[n].get("id")) == str(wanted) or str(n) == str(wanted):
                return n
        ids = ", ".join(str(rows[n].get("id")) for n in usable[:5])
        raise ReportError(
            f"prompt {wanted!r}: no prompt with top-k tokens has this id or index (ids: "
            f"{ids}{', ...' if len(usable) > 5 else ''}; indexes 0..{len(rows) - 1})"
        )
    tests: tuple[Callable[[dict[str, Any]], object], ...] = (
        lambda r: r.get("correct") and r.get("particle_layer") is not None,
        lambda r: r.get("correct"),
        lambda r: True,
    )
    for test in tests:
        for n in usable:
            if test(rows[n]):
                return n
    return None


def _valid(topk: object, L: int) -> bool:
    return isinstance(topk, list) and len(topk) == L + 1 and all(isinstance(t, list) for t in topk)


# Whitespace drawn as a visible sign; other Unicode spaces (category Zs) are drawn as "␣".
SIGNS = {" ": "␣", "\xa0": "⍽", "\n": "↵", "\t": "⇥"}


def visible(token: str) -> str:
    """A token with its whitespace visible: space ``␣``, no-break space ``⍽``, newline
    ``↵``, tab ``⇥``, any other space ``␣``; other invisible characters escaped (``\\r``,
    ``\\x19``). Every sign is a glyph of DejaVu Sans, the figures' font."""
    return "".join(_sign(c) for c in str(token))


def _sign(char: str) -> str:
    if char in SIGNS:
        return SIGNS[char]
    if unicodedata.category(char) == "Zs":
        return "␣"
    return char if char.isprintable() else repr(char)[1:-1]


def token_text(token: str) -> str:
    """A token as it should read in a table cell: :func:`visible`, at most 14 characters."""
    text = visible(token)
    return shorten(text, 14) if text else "∅"


def topk_table(data: dict[str, Any], index: int) -> Figure:
    """Layers (rows, 0 at the top) × rank (columns): token and probability, shaded by it."""
    row, L = data["prompts"][index], num_layers(data)
    k = max(len(layer) for layer in row["topk"])
    probs = np.zeros((L + 1, k))
    for i, layer in enumerate(row["topk"]):
        probs[i, : len(layer)] = [float(p) for _, p in layer]
    fig = ReportFigure(figsize=(1.45 * k + 1.3, 0.24 * (L + 1) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(probs, aspect="auto", cmap="Blues", vmin=0.0, vmax=1.0, interpolation="none")
    target = str(row.get("target_token", row.get("target", "")))
    for i, layer in enumerate(row["topk"]):
        for j, (token, p) in enumerate(layer):
            hit = str(token) == target
            ax.text(
                j,
                i,
                f"{token_text(token)} {float(p):.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if float(p) > 0.55 else "black",
                fontweight="bold" if hit else "normal",
                bbox={"ec": ACCENT, "fc": "none", "lw": 1.2, "pad": 1} if hit else None,
            )
    ax.set_xticks(range(k), [f"#{j + 1}" for j in range(k)])
    ax.xaxis.tick_top()
    ax.set_yticks(range(L + 1), [f"{i}" for i in range(L + 1)], fontsize=7)
    ax.set_ylabel("layer (0 = embedding output)")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(
        f"Top-{k} tokens per layer for “{shorten(row.get('prompt', ''), 48)}” → "
        f"{token_text(target)} (boxed)",
        fontsize=9,
    )
    return fig
