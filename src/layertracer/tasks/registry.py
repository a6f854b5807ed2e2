"""The built-in task suites: data files shipped inside the package.

Each suite is ``data/<name>.jsonl``; ``data/suites.json`` describes them
(name, description, source, licence, and the ``min_items`` the suite promises).
Both are read with :mod:`importlib.resources`, so they work from an installed wheel.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from layertracer.errors import TaskError
from layertracer.tasks.records import parse_items, raise_first
from layertracer.tasks.schema import SuiteInfo

if TYPE_CHECKING:  # importlib.resources.abc is new in Python 3.11
    from importlib.resources.abc import Traversable

REGISTRY_FILE = "suites.json"
_KEYS = ("name", "description", "source", "licence")


def _data_dir() -> Traversable:
    """The package folder that holds the suites."""
    return resources.files("layertracer.tasks").joinpath("data")


@lru_cache(maxsize=1)
def _entries() -> dict[str, dict[str, Any]]:
    """Read ``suites.json`` into ``{name: entry}``, checking every entry's keys."""
    text = _data_dir().joinpath(REGISTRY_FILE).read_text(encoding="utf-8")
    try:
        entries = json.loads(text)["suites"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise TaskError(f"the built-in suite registry {REGISTRY_FILE} is broken: {err}") from err
    table: dict[str, dict[str, Any]] = {}
    for entry in entries:
        missing = [key for key in _KEYS if not isinstance(entry.get(key), str)]
        if missing:
            raise TaskError(f"{REGISTRY_FILE}: entry {entry.get('name')!r} lacks {missing}")
        table[entry["name"]] = entry
    return table


def suite_names() -> list[str]:
    """The names of the built-in suites, sorted."""
    return sorted(_entries())


def is_suite(name: str) -> bool:
    """Whether ``name`` is a built-in suite."""
    return name in _entries()


def suite_entry(name: str) -> dict[str, Any]:
    """The registry entry of one suite (a copy).

    Args:
        name: A built-in suite name.

    Raises:
        TaskError: When there is no such suite.
    """
    if not is_suite(name):
        raise TaskError(f"no built-in suite {name!r} (built-in: {', '.join(suite_names())})")
    return dict(_entries()[name])


def suite_text(name: str) -> str:
    """The text of a built-in suite's data file.

    Args:
        name: A built-in suite name.

    Raises:
        TaskError: When there is no such suite or its data file is missing.
    """
    suite_entry(name)
    path = _data_dir().joinpath(f"{name}.jsonl")
    if not path.is_file():
        raise TaskError(f"built-in suite {name!r} has no data file {name}.jsonl")
    return path.read_text(encoding="utf-8")


def list_suites() -> list[SuiteInfo]:
    """Describe every built-in suite, counting its items from the data.

    Returns:
        One :class:`SuiteInfo` per suite, sorted by name.

    Raises:
        TaskError: When a suite's data file is missing or invalid.
    """
    infos = []
    for name in suite_names():
        where = f"builtin:{name}"
        numbered, problems = parse_items(suite_text(name), where, "jsonl")
        raise_first(problems, name)
        entry = _entries()[name]
        infos.append(
            SuiteInfo(
                name=name,
                items=len(numbered),
                description=entry["description"],
                source=entry["source"],
                licence=entry["licence"],
            )
        )
    return infos
