"""Tests for layertracer.config: validation on construction, parsing and serialisation."""

from __future__ import annotations

import dataclasses
import json

import pytest

from layertracer.config import (
    ALL_METHODS,
    DEFAULT_METHODS,
    DEFAULT_PROTOCOL,
    NEEDS,
    ParticleConfig,
    RunConfig,
    VulnerabilityConfig,
    parse_methods,
    parse_seeds,
    parse_value,
)
from layertracer.errors import ConfigError, LayerTracerError

# ---------------------------------------------------------------- VulnerabilityConfig


@pytest.mark.parametrize("ratio", [0, 0.0, 1, 1.0, -0.1, 1.5, float("nan")])
def test_bad_mask_ratio(ratio: float) -> None:
    with pytest.raises(ConfigError, match="mask-ratio"):
        VulnerabilityConfig(mask_ratio=ratio)


@pytest.mark.parametrize("ratio", [0.001, 0.2, 0.5, 0.999])
def test_good_mask_ratio(ratio: float) -> None:
    assert VulnerabilityConfig(mask_ratio=ratio).mask_ratio == ratio


@pytest.mark.parametrize("mode", ["", "zeros", "Zero", "noise", "ablate"])
def test_bad_mask_mode(mode: str) -> None:
    with pytest.raises(ConfigError, match="mask-mode"):
        VulnerabilityConfig(mask_mode=mode)


@pytest.mark.parametrize("mode", ["zero", "mean", "gaussian"])
def test_good_mask_mode(mode: str) -> None:
    assert VulnerabilityConfig(mask_mode=mode).mask_mode == mode


@pytest.mark.parametrize("positions", ["", "first", "ALL", "every"])
def test_bad_positions(positions: str) -> None:
    with pytest.raises(ConfigError, match="positions"):
        VulnerabilityConfig(positions=positions)


@pytest.mark.parametrize("positions", ["all", "last"])
def test_good_positions(positions: str) -> None:
    assert VulnerabilityConfig(positions=positions).positions == positions


@pytest.mark.parametrize("seeds", [(), (0, 0), (1, 2, 1), (-1,), (0, -3)])
def test_bad_seeds(seeds: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match="seeds"):
        VulnerabilityConfig(seeds=seeds)


@pytest.mark.parametrize("seeds", [(0,), (0, 1, 2), (5, 3, 100)])
def test_good_seeds(seeds: tuple[int, ...]) -> None:
    assert VulnerabilityConfig(seeds=seeds).seeds == seeds


@pytest.mark.parametrize(
    "kwargs",
    [
        {"protect_massive": "all"},
        {"protect_massive": ""},
        {"massive_ratio": 1.0},
        {"massive_ratio": 0.5},
    ],
)
def test_bad_massive_options(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        VulnerabilityConfig(**kwargs)


def test_vulnerability_defaults_are_the_default_protocol() -> None:
    assert VulnerabilityConfig().protocol() == DEFAULT_PROTOCOL
    assert VulnerabilityConfig() == VulnerabilityConfig.preset(DEFAULT_PROTOCOL)


def test_the_paper_protocol_is_the_papers() -> None:
    v = VulnerabilityConfig.preset("paper")
    assert v.seeds == (0, 1, 2)
    assert v.mask_ratio == 0.2
    assert v.mask_mode == "zero"
    assert v.positions == "all"
    assert v.protect_massive == "none"
    assert v.massive_ratio == 10.0
    assert not v.adaptive and v.protocol() == "paper"


def test_options_given_with_a_protocol_override_it_and_make_it_custom() -> None:
    v = VulnerabilityConfig.preset("paper", mask_mode="mean", seeds=None)
    assert v.mask_mode == "mean" and v.seeds == (0, 1, 2) and v.protocol() == "custom"
    assert VulnerabilityConfig.preset("paper", mask_mode="zero").protocol() == "paper"
    with pytest.raises(ConfigError, match="--protocol"):
        VulnerabilityConfig.preset("nope")


# ---------------------------------------------------------------- ParticleConfig


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delta": 0},
        {"delta": 1},
        {"delta": -0.05},
        {"z": 0},
        {"z": -2},
        {"sigma_min": 0},
        {"delta_min": -0.01},
        {"delta_min": 1},
    ],
)
def test_bad_particle_options(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        ParticleConfig(**kwargs)


def test_particle_defaults() -> None:
    p = ParticleConfig()
    assert (p.delta, p.z, p.sigma_min, p.delta_min) == (0.05, 2.0, 1e-3, 0.01)
    assert p.sensitivity == (0.03, 0.04, 0.05, 0.06, 0.07, 0.08)
    assert ParticleConfig(delta=0.08, z=3, delta_min=0).delta == 0.08


# ---------------------------------------------------------------- RunConfig


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"batch_size": 0}, "batch-size"),
        ({"batch_size": -4}, "batch-size"),
        ({"device": "gpu"}, "device"),
        ({"device": "mps"}, "device"),
        ({"dtype": "float64"}, "dtype"),
        ({"dtype": "fp16"}, "dtype"),
        ({"max_prompts": 0}, "max-prompts"),
        ({"max_prompts": -1}, "max-prompts"),
        ({"methods": ("lens", "bogus")}, "methods"),
    ],
)
def test_bad_run_options(kwargs: dict, option: str) -> None:
    with pytest.raises(ConfigError, match=option):
        RunConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"batch_size": 1},
        {"device": "cpu"},
        {"device": "cuda"},
        {"device": "auto"},
        {"dtype": "bfloat16"},
        {"dtype": "float16"},
        {"max_prompts": None},
        {"max_prompts": 1},
        {"methods": ("lens",)},
        {"methods": ("lens", "particles", "vulnerability")},
    ],
)
def test_good_run_options(kwargs: dict) -> None:
    cfg = RunConfig(**kwargs)
    for key, value in kwargs.items():
        assert getattr(cfg, key) == value


def test_config_error_is_a_layertracer_error() -> None:
    assert issubclass(ConfigError, LayerTracerError)
    with pytest.raises(LayerTracerError):
        RunConfig(batch_size=0)


def test_to_dict_is_json_serialisable_and_complete() -> None:
    cfg = RunConfig(
        model="tiny:llama",
        max_prompts=3,
        vulnerability=VulnerabilityConfig(seeds=(4, 2), mask_mode="mean"),
    )
    data = json.loads(json.dumps(cfg.to_dict(), allow_nan=False))
    assert data["model"] == "tiny:llama"
    assert data["max_prompts"] == 3
    assert data["methods"] == list(DEFAULT_METHODS)
    assert data["vulnerability"]["seeds"] == [4, 2]
    assert data["vulnerability"]["mask_mode"] == "mean"
    assert data["particles"]["delta"] == 0.05
    assert set(data) == {f.name for f in dataclasses.fields(RunConfig)}
    assert set(data["vulnerability"]) == {f.name for f in dataclasses.fields(VulnerabilityConfig)}


@pytest.mark.parametrize(
    ("obj", "attr", "value"),
    [
        (RunConfig(), "batch_size", 0),
        (VulnerabilityConfig(), "mask_ratio", 5.0),
        (ParticleConfig(), "delta", 0.0),
    ],
)
def test_dataclasses_are_frozen(obj: object, attr: str, value: object) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, attr, value)


def test_replace_revalidates() -> None:
    with pytest.raises(ConfigError):
        dataclasses.replace(VulnerabilityConfig(), mask_ratio=1.5)


# ---------------------------------------------------------------- parse_methods


def test_parse_methods_all() -> None:
    assert parse_methods("all") == ALL_METHODS
    assert parse_methods(" all ") == ALL_METHODS
    RunConfig(methods=parse_methods("all"))  # accepted as a run's methods


def test_parse_methods_particles_pulls_in_lens() -> None:
    methods = parse_methods("particles")
    assert "lens" in methods and "particles" in methods
    assert methods.index("lens") < methods.index("particles")
    assert parse_methods("vulnerability,particles") == ("vulnerability", "lens", "particles")


@pytest.mark.parametrize("given", [*ALL_METHODS, "particles,removal", "removal,lens"])
def test_every_method_runs_with_what_it_needs_however_given(given: str) -> None:
    resolved = parse_methods(given)
    for method in resolved:  # closed: every method's needs are there, before it
        for needed in NEEDS.get(method, ()):
            assert resolved.index(needed) < resolved.index(method), (given, resolved)
    assert parse_methods(",".join(resolved)) == resolved  # idempotent
    assert RunConfig(methods=tuple(given.split(","))).methods == resolved  # API == --methods
    assert RunConfig(methods=given).methods == resolved


def test_parse_methods_list_is_deduplicated_in_order() -> None:
    assert parse_methods("vulnerability, lens,lens") == ("vulnerability", "lens")
    assert parse_methods("lens,particles,particles") == ("lens", "particles")


@pytest.mark.parametrize("text", ["bogus", "lens,bogus", "", " , ", "LENS"])
def test_parse_methods_rejects_unknown_or_empty(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_methods(text)


# ---------------------------------------------------------------- parse_seeds


@pytest.mark.parametrize(
    ("text", "seeds"), [("0,1,2", (0, 1, 2)), ("7", (7,)), (" 3 , 5 ", (3, 5)), ("1,2,", (1, 2))]
)
def test_parse_seeds(text: str, seeds: tuple[int, ...]) -> None:
    assert parse_seeds(text)["seeds"] == seeds and not parse_seeds(text)["adaptive"]


def test_parse_seeds_auto_and_the_protocols_own() -> None:
    auto = parse_seeds("auto", max_seeds=12)
    assert auto == {"seeds": (0, 1, 2, 3), "adaptive": True, "max_seeds": 12}
    assert VulnerabilityConfig(**auto).adaptive
    assert parse_seeds(None) == {} and parse_seeds(None, 8) == {"max_seeds": 8}
    assert parse_seeds(",".join(map(str, range(40))))["max_seeds"] == 40


@pytest.mark.parametrize("text", ["a,b", "", ",", "1.5", "0,x", "1;2"])
def test_parse_seeds_rejects_bad_text(text: str) -> None:
    with pytest.raises(ConfigError, match="seeds"):
        parse_seeds(text)


def test_parse_seeds_rejects_negative() -> None:
    with pytest.raises(ConfigError):
        parse_seeds("0,-1")


# ---------------------------------------------------------------- parse_value

VALUES = [
    (int, "3", 3), (float, "0.5", 0.5), (bool, "Yes", True), (bool, "0", False),
    (str, " a b ", " a b "), (int | None, "none", None), (int | None, "4", 4),
    (str | None, "none", "none"), (tuple[int, ...], "0, 2,", (0, 2)),
    (tuple[float, ...], "0.1,1", (0.1, 1.0)), (int | str, "8", 8), (int | str, "auto", "auto"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "text", "value"), VALUES)
def test_parse_value_by_type(kind, text: str, value) -> None:
    parsed = parse_value(kind, text, "--x")
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (int, "1.5"),
        (float, "x"),
        (bool, "maybe"),
        (int | None, "nothing"),
        (tuple[int, ...], "1,a"),
    ],
)
def test_parse_value_refuses_in_one_line_naming_the_option(kind, text: str) -> None:
    with pytest.raises(ConfigError, match=f"^--x must be .*, got '({text}|a)'$"):
        parse_value(kind, text, "--x")
