"""Markdown tables of ``layertracer finetune`` results, as docs/training.md shows them.

Usage: python scripts/training_tables.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _band(band: list[float] | None, digits: int = 3) -> str:
    return "–" if band is None else f"[{band[0]:.{digits}f}, {band[1]:.{digits}f}]"


def arms_table(data: dict[str, Any]) -> str:
    """One row per arm: its blocks, held-out loss, accuracy, ASR, time."""
    section = data.get("adapt") or data.get("backdoor")
    backdoor = data["experiment"] == "backdoor"
    head = "| arm | frozen blocks | ASR | clean acc. | held-out loss | wall s | CPU s |"
    if not backdoor:
        head = "| arm | trained blocks | loss start | loss final | reduction | wall s | CPU s |"
    rows = [head, "|---" * 7 + "|"]
    for arm in section["arms"]:
        chosen = arm["frozen"] if backdoor else arm["trained"]
        blocks = "all" if len(chosen) == len(arm["weight_change"]) else str(chosen or "none")
        values = (
            [_f(arm["asr"], 2), _f(arm["clean_accuracy"], 2), _f(arm["heldout_loss_final"])]
            if backdoor
            else [
                _f(arm["heldout_loss_start"]),
                _f(arm["heldout_loss_final"]),
                _f(arm["loss_reduction"]),
            ]
        )
        rows.append(
            f"| {arm['name']} | {blocks} | {' | '.join(values)} | {arm['seconds']:.0f} | "
            f"{arm['cpu_seconds']:.0f} |"
        )
    return "\n".join(rows)


def effects_table(data: dict[str, Any]) -> str:
    """One row per criterion and measure: most, least, the random band, the verdicts."""
    section = data.get("adapt") or data.get("backdoor")
    rows = [
        "| criterion | measure | most | least | random band (mean) | most vs band "
        "| least vs band |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in section["effects"]:
        rows.append(
            f"| {e['criterion']} | {e['measure']} | {_f(e['most'])} | {_f(e['least'])} | "
            f"{_band(e['random_band'])} ({_f(e['random_mean'])}) | {e['most_vs_random']} | "
            f"{e['least_vs_random']} |"
        )
    return "\n".join(rows)


def sensitivity_table(data: dict[str, Any]) -> str:
    """Each criterion's Spearman rho with the weight change and with the shift."""
    section = data["sensitivity"]
    rows = [
        "| criterion | rho with weight change [95% CI] "
        "| rho with 1 − CKA(before, after) [95% CI] |",
        "|---|---|---|",
    ]
    for name, table in section["correlation"].items():
        cells = [
            f"{_f(table[m]['rho'], 2)} {_band(table[m]['interval'], 2)}"
            for m in ("weight_change", "shift")
        ]
        rows.append(f"| {name} | {cells[0]} | {cells[1]} |")
    change = ", ".join(f"{v:.5f}" for v in section["weight_change"])
    cka = ", ".join(_f(v) for v in section["cka_before_after"])
    return "\n".join(rows) + f"\n\nweight change per block: {change}\n\nCKA before/after: {cka}"


def main(argv: list[str]) -> int:
    """Prints the tables of every result folder given."""
    for folder in argv:
        data = json.loads((Path(folder) / "results.json").read_text())
        print(f"## {folder}: {data['experiment']}\n")
        if data["experiment"] == "sensitivity":
            print(sensitivity_table(data) + "\n")
        else:
            print(arms_table(data) + "\n\n" + effects_table(data) + "\n")
        for warning in data["warnings"]:
            print(f"warning: {warning}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
