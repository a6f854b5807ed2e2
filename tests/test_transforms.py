"""Output transforms: candidates from config keys, identity unless strictly better."""

from __future__ import annotations

import pytest
import torch

from layertracer.errors import FidelityError
from layertracer.model.transforms import (
    LogitTransform,
    candidates,
    choose_transform,
    fidelity_error,
)


class _Config:
    def __init__(self, **values: float) -> None:
        self.values = values

    def to_dict(self) -> dict:
        return dict(self.values)


def test_candidates_come_from_key_names() -> None:
    found = {
        t.describe() for t in candidates(_Config(final_logit_softcapping=30.0, logits_scaling=4.0))
    }
    assert "identity" in found
    assert "softcap(30) [final_logit_softcapping]" in found
    assert "divide(4) [logits_scaling]" in found
    assert "divide(4) then softcap(30) [logits_scaling, final_logit_softcapping]" in found


def test_width_scaling_candidate() -> None:
    found = {t.describe() for t in candidates(_Config(hidden_size=256.0, dim_model_base=64.0))}
    assert "divide(4) [hidden_size/dim_model_base]" in found


@pytest.mark.parametrize(
    ("config", "true_ops"),
    [
        ({"final_logit_softcapping": 2.0}, (("softcap", 2.0),)),
        ({"logit_scale": 0.25}, (("multiply", 0.25),)),
        (
            {"logits_scaling": 4.0, "final_logit_softcapping": 3.0},
            (("divide", 4.0), ("softcap", 3.0)),
        ),
    ],
)
def test_choose_transform_recovers_the_applied_one(config: dict, true_ops: tuple) -> None:
    raw = torch.randn(3, 50) * 8
    model_logits = LogitTransform(true_ops)(raw)
    chosen = choose_transform(_Config(**config), raw, model_logits, "x")
    assert chosen.ops == true_ops


def test_identity_wins_ties_and_mismatch_raises() -> None:
    raw = torch.randn(2, 10)
    assert choose_transform(_Config(logit_scale=1.0), raw, raw, "x").ops == ()
    with pytest.raises(FidelityError, match="'mystery'"):
        choose_transform(_Config(), raw, raw * 3.7, "mystery")


def test_fidelity_error_is_shift_invariant_and_inf_on_shape_mismatch() -> None:
    a = torch.randn(4, 9)
    assert fidelity_error(a, a + 5.0) < 1e-5
    assert fidelity_error(a, a[:, :8]) == float("inf")
