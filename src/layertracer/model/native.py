"""Refuse silent slowness: a half-precision dtype on a CPU that lacks native support.

A CPU without bfloat16 (or float16) matmul instructions emulates them, often tens to
hundreds of times slower than float32, so ``--dtype bfloat16`` there would silently take
days. At load, :func:`slow_dtype_warning` times one small linear layer (``[64, 512]`` by a
``512 × 512`` weight, on one thread so that other jobs on the machine do not distort the
ratio) in float32 and in the requested dtype, once per process and dtype (a fraction of a
second), and, when the dtype
is more than :data:`SLOW_FACTOR` times slower, warns in one line with the measured factor
(logger ``layertracer``: ``warning:`` on the command line). The run goes on: the dtype may
be wanted for its memory, and the user decides.
"""

from __future__ import annotations

import functools
import logging
import time

import torch

log = logging.getLogger("layertracer")

SLOW_FACTOR = 2.0  # a dtype this many times slower than float32 is worth a warning
ROWS, WIDTH = 64, 512  # the timed linear layer: [ROWS, WIDTH] by a WIDTH × WIDTH weight


def _seconds(dtype: torch.dtype, repeats: int) -> float:
    """The fastest of ``repeats`` timed linear layers in ``dtype`` on the CPU."""
    x = torch.ones(ROWS, WIDTH, dtype=dtype)
    weight = torch.ones(WIDTH, WIDTH, dtype=dtype)
    torch.nn.functional.linear(x, weight)  # first call: one-time set-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.nn.functional.linear(x, weight)
        best = min(best, time.perf_counter() - start)
    return best


@functools.cache
def cpu_slowdown(dtype: torch.dtype) -> float:
    """How many times slower a CPU linear layer is in ``dtype`` than in float32, on one
    thread (measured once per process; ``1.0`` for float32 and float64). ``> 0``"""
    if dtype in (torch.float32, torch.float64):
        return 1.0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _seconds(dtype, 2) / max(_seconds(torch.float32, 5), 1e-9)
    finally:
        torch.set_num_threads(threads)


def slow_dtype_warning(device: torch.device, dtype: torch.dtype) -> str | None:
    """The one-line warning (also logged) when ``dtype`` is emulated on a CPU ``device``,
    else ``None``."""
    if device.type != "cpu" or dtype in (torch.float32, torch.float64):
        return None
    factor = cpu_slowdown(dtype)
    if factor <= SLOW_FACTOR:
        return None
    name = str(dtype).removeprefix("torch.")
    message = (
        f"--dtype {name} on this CPU: a matmul measured {factor:.0f}x slower than in float32 "
        f"(no native {name} support), so the run will be about that much slower; "
        "--dtype float32 is faster here"
    )
    log.warning(message)
    return message
