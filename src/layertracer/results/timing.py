"""The ``timing`` section of results.json: seconds per stage, and the work each stage did
(docs/performance.md#flop-accounting).

``timing`` maps each stage to its seconds, as before; two more keys hold, per stage whose
work is counted, its FLOPs (``flops``) and the achieved rate (``gflop_per_s``)::

    {"lens": 2.5, "vulnerability": 69.0,
     "flops": {"lens": 1.5e12, "vulnerability": 3.1e12},
     "gflop_per_s": {"lens": 600.0, "vulnerability": 45.0}}
"""

from __future__ import annotations

from collections.abc import Mapping

TimingValue = float | None | dict[str, float | None]
FLOPS, RATE = "flops", "gflop_per_s"


def with_work(
    seconds: Mapping[str, float], flops: Mapping[str, float | None]
) -> dict[str, TimingValue]:
    """The ``timing`` section: ``seconds`` per stage, and for the stages in ``flops`` their
    FLOPs and GFLOP/s (``None`` where not counted or no time was measured)."""
    timing: dict[str, TimingValue] = dict(seconds)
    if flops:
        timing[FLOPS] = dict(flops)
        timing[RATE] = {name: rate(f, seconds.get(name)) for name, f in flops.items()}
    return timing


def rate(flops: float | None, seconds: float | None) -> float | None:
    """GFLOP/s, ``>= 0``; ``None`` without FLOPs or a positive time."""
    if flops is None or not seconds or seconds <= 0:
        return None
    return round(flops / seconds / 1e9, 3)


def stage_seconds(timing: Mapping[str, TimingValue]) -> dict[str, float]:
    """The seconds of every stage, without the work keys (``None`` left out)."""
    return {k: float(v) for k, v in timing.items() if isinstance(v, (int, float))}
