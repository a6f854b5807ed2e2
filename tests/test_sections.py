"""Tests for layertracer.schema.section, .sections and .methods: the typed
sections read like the JSON objects they validate, and every per-layer array they list
exists as a field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from layertracer.results.document import PER_LAYER, Results
from layertracer.schema.section import Section, section_fields
from layertracer.schema.sections import PROMPT_PER_LAYER, PromptRow


class Example(Section):
    value: int
    note: str | None = None


def test_a_section_reads_like_a_dict_and_refuses_undeclared_keys() -> None:
    section = Example.model_validate({"value": 3})
    assert section["value"] == 3 and "value" in section and "note" not in section
    assert section.get("note", "unset") == "unset"  # a default not given is "absent"
    assert Example(value=1, note=None).get("note", "unset") is None  # given as null
    with pytest.raises(KeyError):
        section["missing"]
    with pytest.raises(ValidationError, match="newer"):
        Example.model_validate({"value": 3, "newer": [1, 2]})


def test_the_per_layer_fields_are_found_on_the_sections() -> None:
    """The shapes declared on the fields make the table that reading checks: the arrays
    of every method's section and of a prompt row, each a field of its section."""
    sections = section_fields(Results)
    for section, name, kind in PER_LAYER:
        assert name in sections[section].model_fields, (section, name)
        assert kind in ("layers", "rows", "square", "each", "pairs")
    found = {(section, name) for section, name, _ in PER_LAYER}
    assert {("vulnerability", "js"), ("cka", "matrix"), ("agreement", "curves")} <= found
    assert {("similarity", "bi"), ("lens", "kl_bits"), ("removal", "scores")} <= found
    assert len(found) == len(PER_LAYER) >= 20
    assert dict(PROMPT_PER_LAYER)["tracing_map"] == "rows"
    assert all(name in PromptRow.model_fields for name, _ in PROMPT_PER_LAYER)


@pytest.mark.parametrize(
    "options",
    [
        {"methods": "all", "full_target": True, "seeds": "0,1"},
        {"methods": "lens,particles,vulnerability", "site": "mlp", "seeds": "auto"},
        {"methods": "lens,particles", "text": "builtin:gettysburg", "task": None, "max_prompts": 4},
    ],
    ids=["all", "module-site", "text"],
)
def test_every_key_a_run_writes_is_declared(options: dict, small_task) -> None:
    """Sections refuse undeclared keys: every key these runs write has its field, and
    their results.json objects read back as they are."""
    from layertracer import RunConfig, trace
    from tests.conftest import tiny

    task = options.get("task", small_task)
    results = trace(tiny("llama"), task, RunConfig.from_options(batch_size=4, **options))
    data = results.to_dict(arrays=False)
    assert Results.model_validate(data).to_dict(arrays=False) == data
