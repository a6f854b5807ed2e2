"""Recompute one arm of a ``layertracer finetune`` result from its saved predictions,
independently of the training code (docs/training.md#crosscheck).

From ``predictions`` (each held-out prompt's loss and greedy first token, clean and
triggered) and ``data`` (the held-out targets, the attack's token) it recomputes the arm's
held-out loss, clean first-token accuracy and attack success rate; it checks that the arm's
frozen blocks have a weight change of exactly 0 and its trained ones a positive one, and
that a criterion's ``most``/``least`` arm chose the k blocks of highest/lowest value of the
criterion's curve (block b read at state b + 1).

Usage: python scripts/crosscheck_training.py RUN_DIR [ARM]   (ARM: default the undefended
``none/none`` of a backdoor, else ``all/all``); prints PASS or the problems and exits 1.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

TOLERANCE = 1e-9


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _share(predicted: list[int], wanted: list[int]) -> float:
    return sum(int(p == w) for p, w in zip(predicted, wanted, strict=True)) / len(wanted)


def _arms(data: dict[str, Any]) -> list[dict[str, Any]]:
    if data.get("sensitivity"):
        return [data["sensitivity"]["arm"]]
    return list((data.get("adapt") or data.get("backdoor"))["arms"])


def _chosen(data: dict[str, Any], arm: dict[str, Any]) -> list[int]:
    """The blocks the arm chose: trained (adapt) or frozen (backdoor)."""
    return arm["frozen"] if data["experiment"] == "backdoor" else arm["trained"]


def _expected_blocks(data: dict[str, Any], arm: dict[str, Any], k: int) -> list[int]:
    curve = data["criteria"][arm["criterion"]]
    values = [(v, b) for b, v in enumerate(curve[1:]) if v is not None and math.isfinite(v)]
    if arm["which"] == "most":
        values.sort(key=lambda vb: (-vb[0], vb[1]))
    else:
        values.sort()
    return sorted(b for _, b in values[:k])


def check(results: Any, name: str) -> list[str]:
    """The problems of arm ``name`` of ``results`` (a FinetuneResults, or its JSON dict)."""
    data = results if isinstance(results, dict) else json.loads(results.model_dump_json())
    arm = next((a for a in _arms(data) if a["name"] == name), None)
    if arm is None:
        return [f"no arm {name!r}"]
    problems = []
    pred, info = arm["predictions"], data["data"]
    found = {
        "heldout_loss_final": _mean(pred["clean_loss"]),
        "clean_accuracy": _share(pred["clean_top1"], info["heldout_target_ids"]),
    }
    if pred["triggered_top1"]:
        attack = [info["attack_token_id"]] * len(pred["triggered_top1"])
        found["asr"] = _share(pred["triggered_top1"], attack)
    for key, value in found.items():
        if abs(arm[key] - value) > TOLERANCE:
            problems.append(f"{name}: {key} saved {arm[key]} but recomputed {value}")
    if any(arm["weight_change"][b] != 0.0 for b in arm["frozen"]):
        problems.append(f"{name}: a frozen block moved")
    if any(not arm["weight_change"][b] > 0.0 for b in arm["trained"]):
        problems.append(f"{name}: a trained block did not move")
    if arm["which"] in ("most", "least"):
        k = len(_chosen(data, arm))
        if _chosen(data, arm) != _expected_blocks(data, arm, k):
            problems.append(f"{name}: chose {_chosen(data, arm)}, not the curve's blocks")
    return problems


def main(argv: list[str]) -> int:
    """Checks the arm; prints PASS with the recomputed numbers, or the problems."""
    folder = Path(argv[0])
    data = json.loads((folder / "results.json").read_text())
    name = (
        argv[1] if len(argv) > 1 else "none/none" if data["experiment"] == "backdoor" else "all/all"
    )
    problems = check(data, name)
    arm = next(a for a in _arms(data) if a["name"] == name) if not problems else None
    if problems:
        print("FAIL\n" + "\n".join(problems))
        return 1
    assert arm is not None
    print(
        f"PASS {name}: held-out loss {arm['heldout_loss_final']:.4f}, clean accuracy "
        f"{arm['clean_accuracy']:.3f}, ASR {arm['asr']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
