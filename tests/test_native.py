"""The warning against silent slowness: a dtype that this CPU emulates is timed at load
and named with its measured factor (docs/performance.md#half-precision-on-a-cpu)."""

from __future__ import annotations

import logging

import pytest
import torch

from layertracer.model import native


def test_float32_is_never_slow() -> None:
    assert native.cpu_slowdown(torch.float32) == 1.0
    assert native.slow_dtype_warning(torch.device("cpu"), torch.float32) is None
    assert native.slow_dtype_warning(torch.device("cuda"), torch.bfloat16) is None


def test_a_slow_dtype_is_warned_about_with_its_factor(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(native, "cpu_slowdown", lambda dtype: 40.0)
    with caplog.at_level(logging.WARNING, logger="layertracer"):
        message = native.slow_dtype_warning(torch.device("cpu"), torch.bfloat16)
    assert message is not None and "40x slower" in message and "bfloat16" in message
    assert "\n" not in message
    assert [r.getMessage() for r in caplog.records] == [message]
    monkeypatch.setattr(native, "cpu_slowdown", lambda dtype: 1.5)
    assert native.slow_dtype_warning(torch.device("cpu"), torch.bfloat16) is None


def test_the_measured_factor_is_a_positive_ratio_cached_per_dtype() -> None:
    factor = native.cpu_slowdown(torch.bfloat16)
    assert factor > 0
    assert native.cpu_slowdown(torch.bfloat16) == factor  # measured once
