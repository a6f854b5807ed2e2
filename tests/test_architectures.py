"""The must-pass architectures: lens exact, replay exact, JS finite, batch == one-by-one.

The full sweep over every causal-LM type is `python scripts/architectures.py`, which writes
docs/architectures.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from layertracer import RunConfig, VulnerabilityConfig, trace
from layertracer.model.tiny import MUST_PASS
from tests.conftest import tiny


@pytest.mark.parametrize("model_type", MUST_PASS)
def test_must_pass_architecture(model_type: str, small_task) -> None:
    lm = tiny(model_type)
    vcfg = VulnerabilityConfig(seeds=(0, 1))
    task = type(small_task)("four", "test", small_task.items[:4])
    batched = trace(lm, task, RunConfig(batch_size=4, vulnerability=vcfg))
    single = trace(lm, task, RunConfig(batch_size=1, vulnerability=vcfg))
    v = batched.vulnerability
    assert batched.lens["fidelity_max_abs_err"] < 1e-3
    assert v["path"] == "replay", v["fallback_reason"]
    js = np.array(v["js"])
    assert np.isfinite(js).all() and js.shape == (2, batched.model["num_layers"] + 1)
    assert "unknown" not in batched.model["layer_types"]
    for a, b in zip(batched.prompts, single.prompts, strict=True):
        np.testing.assert_allclose(a["target_prob"], b["target_prob"], atol=1e-5)
    np.testing.assert_allclose(js, single.vulnerability["js"], atol=1e-4)
