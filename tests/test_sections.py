"""Tests for layertracer.results.section, .sections and .method_sections: the typed
sections read like the JSON objects they validate, and every per-layer array they list
exists as a field."""

from __future__ import annotations

import pytest

from layertracer.results.document import Results
from layertracer.results.section import Section
from layertracer.results.sections import PER_LAYER, PROMPT_PER_LAYER, PromptRow


class Example(Section):
    value: int
    note: str | None = None


def test_a_section_reads_like_a_dict_and_keeps_unknown_keys() -> None:
    section = Example.model_validate({"value": 3, "newer": [1, 2]})
    assert section["value"] == 3 and section["newer"] == [1, 2]
    assert "value" in section and "newer" in section and "note" not in section
    assert section.get("note", "unset") == "unset"  # a default not given is "absent"
    assert Example(value=1, note=None).get("note", "unset") is None  # given as null
    with pytest.raises(KeyError):
        section["missing"]
    assert section.model_dump()["newer"] == [1, 2]


def test_every_per_layer_array_is_a_field_of_its_section() -> None:
    fields = Results.model_fields
    for section, name, _ in PER_LAYER:
        model = fields[section].annotation.__args__[0]  # Section | None
        assert name in model.model_fields, (section, name)
    for name, _ in PROMPT_PER_LAYER:
        assert name in PromptRow.model_fields, name
