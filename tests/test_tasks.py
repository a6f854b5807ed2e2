"""Tests for layertracer.tasks: the built-in suites' contract and the file loader."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest

from layertracer.errors import LayerTracerError, TaskError
from layertracer.tasks import (
    SuiteInfo,
    Task,
    TaskItem,
    list_suites,
    load_task,
    load_tasks,
    registry,
    validate_file,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_capitals.py"

ITEMS = (
    TaskItem("fr", "The capital of France is", " Paris", "France"),
    TaskItem("7", "2 + 2 =", " 4"),
    TaskItem("quote", 'He said "a, b",\nthen:', ' "c"', "said"),
    TaskItem("uni", "Die Hauptstadt von Österreich ist", " Wien", "Österreich"),
)


def write(tmp_path: Path, name: str, text: str) -> str:
    """Write ``text`` byte for byte (no newline translation); return the path."""
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def jsonl(*rows: object) -> str:
    """One JSON value per line."""
    return "".join(json.dumps(row) + "\n" for row in rows)


def good(n: int = 1, **extra: object) -> dict[str, object]:
    """A valid JSONL record."""
    return {"id": f"q{n}", "prompt": f"Question {n} is", "target": " yes", **extra}


def load_script():
    """Import scripts/make_capitals.py as a module."""
    spec = importlib.util.spec_from_file_location("make_capitals", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the built-in suites: one contract test over every suite ----------------------


@pytest.mark.parametrize("name", registry.suite_names())
def test_every_builtin_suite_meets_the_contract(name: str) -> None:
    task = load_task(name)
    entry = registry.suite_entry(name)
    assert task.name == name and task.source == f"builtin:{name}"
    assert validate_file(name) == []
    assert task.warnings == ()
    assert len(task.items) >= entry["min_items"]
    assert len({item.id for item in task.items}) == len(task.items)
    assert len({(item.prompt, item.target) for item in task.items}) == len(task.items)
    for item in task.items:
        assert item.target.strip() and item.prompt.strip()
        assert item.subject is None or item.subject in item.prompt


def test_list_suites_counts_the_items_of_every_suite() -> None:
    infos = list_suites()
    assert [info.name for info in infos] == registry.suite_names()
    assert "capitals" in registry.suite_names()
    for info in infos:
        assert isinstance(info, SuiteInfo)
        assert info.items == len(load_task(info.name).items)
        assert info.description and info.source and info.licence


def test_list_suites_offers_at_least_eight_suites_of_100_items() -> None:
    infos = list_suites()
    assert len(infos) >= 8
    assert all(info.items >= 100 for info in infos), [(i.name, i.items) for i in infos]


def test_suite_data_is_package_data() -> None:
    data = resources.files("layertracer.tasks").joinpath("data")
    assert data.joinpath("suites.json").is_file()
    for name in registry.suite_names():
        assert data.joinpath(f"{name}.jsonl").is_file()


def test_capitals_items_follow_the_fixed_template() -> None:
    task = load_task("capitals")
    assert len(task.items) >= 120
    france = next(item for item in task.items if item.id == "capitals-france")
    assert france == TaskItem("capitals-france", "The capital of France is", " Paris", "France")
    for item in task.items:
        assert item.prompt.startswith("The capital of ") and item.prompt.endswith(" is")
        assert item.target.startswith(" ") and not item.target.startswith("  ")
        assert item.target.strip().split()[0].casefold() not in item.prompt.casefold()


def test_capitals_data_equals_what_the_script_generates() -> None:
    pytest.importorskip(
        "countryinfo", reason="countryinfo is not installed (pip install -e '.[dev]')"
    )
    script = load_script()
    if script.source_version() != script.SOURCE_VERSION:
        pytest.skip(
            f"countryinfo {script.source_version()} installed, data pinned to "
            f"{script.SOURCE_VERSION}"
        )
    assert script.OUT.read_text(encoding="utf-8") == script.generate()


def test_script_rules_on_synthetic_rows() -> None:
    script = load_script()
    rows = [
        ("France", "Paris"),
        ("Kuwait", "Kuwait City"),  # the answer repeats the country
        ("Bolivia", "Sucre"),  # split capital
        ("Guam", "Hagåtña"),  # not a UN member
        ("Kazakhstan", "Nur-Sultan"),  # corrected
        ("Republic of Macedonia", "Skopje"),  # renamed
        ("The Bahamas", "Nassau"),
        ("Antarctica", None),
    ]
    items = script.build_items(rows)
    assert [item["id"] for item in items] == [
        "capitals-bahamas", "capitals-france", "capitals-kazakhstan", "capitals-north-macedonia",
    ]  # fmt: skip
    by_id = {item["id"]: item for item in items}
    assert by_id["capitals-kazakhstan"]["target"] == " Astana"
    assert by_id["capitals-bahamas"]["prompt"] == "The capital of the Bahamas is"
    assert by_id["capitals-bahamas"]["subject"] == "Bahamas"
    assert script.slug("São Tomé and Príncipe") == "sao-tome-and-principe"


# --- round trips --------------------------------------------------------------------


def test_jsonl_round_trip(tmp_path: Path) -> None:
    rows = [{k: v for k, v in vars(item).items() if v is not None} for item in ITEMS]
    rows[1]["id"] = 7  # integer ids become strings
    rows[0]["note"] = "extra fields are ignored"
    text = json.dumps(rows[0]) + "\n\n  \n" + jsonl(*rows[1:])  # blank lines are skipped
    task = load_task(write(tmp_path, "mine.jsonl", text))
    assert task.items == ITEMS
    assert task.name == "mine" and task.source.endswith("mine.jsonl")
    assert task.warnings == ()


def test_csv_round_trip_with_quoted_commas_and_newlines(tmp_path: Path) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["id", "prompt", "target", "subject", "note"])
    for item in ITEMS:
        writer.writerow([item.id, item.prompt, item.target, item.subject or "", "x"])
    task = load_task(write(tmp_path, "mine.csv", buffer.getvalue()))
    assert task.items == ITEMS


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_line_endings_and_bom(tmp_path: Path, newline: str) -> None:
    text = "\ufeffprompt,target" + newline + "The capital of France is, Paris" + newline
    task = load_task(write(tmp_path, "bom.csv", text))
    assert task.items == (TaskItem("item-2", "The capital of France is", " Paris"),)
    text = "\ufeff" + jsonl(good(1)).replace("\n", newline)
    assert load_task(write(tmp_path, "bom.jsonl", text)).items[0].target == " yes"


def test_default_ids_use_the_line_number(tmp_path: Path) -> None:
    text = jsonl({"prompt": "a is", "target": " b"}) + "\n" + jsonl({"prompt": "c", "target": " d"})
    task = load_task(write(tmp_path, "t.jsonl", text))
    assert [item.id for item in task.items] == ["item-1", "item-3"]


# --- malformed files: the right line number in the message ---------------------------

MALFORMED = [
    ("bad_json.jsonl", jsonl(good(1), good(2)) + '{"prompt": "x",\n', ":3: invalid JSON"),
    ("array.jsonl", jsonl(good(1), [1, 2]), ":2: expected a JSON object, got an array"),
    ("no_target.jsonl", jsonl(good(1), {"prompt": "p"}), ":2: missing field 'target'"),
    ("empty_target.jsonl", jsonl(good(1), good(2, target="  ")), ":2: field 'target' is empty"),
    ("empty_prompt.jsonl", jsonl(good(1, prompt="")), ":1: field 'prompt' is empty"),
    ("number_target.jsonl", jsonl(good(1, target=4)), ":1: field 'target' must be a string"),
    ("float_id.jsonl", jsonl(good(1, id=1.5)), ":1: field 'id' must be a string or an integer"),
    ("dup.jsonl", jsonl(good(1), good(2), good(1)), ":3: duplicate id 'q1' (first used on line 1)"),
    ("subject.jsonl", jsonl(good(1, subject="Paris")), ":1: subject 'Paris' does not occur"),
    ("empty.jsonl", "", ": no items"),
    ("blank.jsonl", "\n  \n", ": no items"),
    ("empty.csv", "", ": no items"),
    ("header_only.csv", "prompt,target\n", ": no items"),
    ("no_target_col.csv", "id,prompt\n1,The capital is\n", ":1: the header row has no 'target'"),
    ("fields.csv", "prompt,target\na is, b\nc is, d, e\n", ":3: 3 fields, but the header has 2"),
    (
        "multiline.csv",
        'prompt,target\n"two\nlines is", x\n"a,\nb", \n',
        ":4: field 'target' is empty",
    ),
    ("unclosed.csv", 'prompt,target\na is, b\n"open, x\nmore\n', ":3: malformed CSV"),
    ("dup.csv", "id,prompt,target\n1,a is, b\n2,c is, d\n1,e is, f\n", ":4: duplicate id '1'"),
    ("subject.csv", "prompt,target,subject\nThe capital is, x,France\n", ":2: subject 'France'"),
]


@pytest.mark.parametrize(("name", "text", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_names_the_line(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(TaskError) as info:
        load_task(path)
    assert str(info.value).startswith(path)
    assert path + expected in str(info.value)
    problems = validate_file(path)
    assert problems and path + expected in problems[0]


def test_validate_file_returns_every_problem_in_line_order(tmp_path: Path) -> None:
    text = (
        jsonl(good(1))
        + "{not json}\n"
        + jsonl(good(3), good(4, target=""), good(5, subject="nowhere"), good(6))
    )
    path = write(tmp_path, "three.jsonl", text)
    problems = validate_file(path)
    assert [p.split(": ", 1)[0] for p in problems] == [f"{path}:2", f"{path}:4", f"{path}:5"]
    with pytest.raises(TaskError) as info:
        load_task(path)
    message = str(info.value)
    assert message.startswith(f"{path}:2: invalid JSON")
    assert f"(and 2 more problems; run `layertracer tasks validate {path}`)" in message


def test_valid_file_has_no_problems(tmp_path: Path) -> None:
    assert validate_file(write(tmp_path, "ok.jsonl", jsonl(good(1), good(2)))) == []


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(
        jsonl(good(1)).encode() + '{"prompt": "Öl", "target": " x"}\n'.encode("latin-1")
    )
    with pytest.raises(TaskError, match=r"latin1\.jsonl:2: not UTF-8"):
        load_task(str(path))


# --- specs that are not task files ---------------------------------------------------


def test_unknown_name_lists_the_builtin_suites() -> None:
    with pytest.raises(TaskError) as info:
        load_task("no-such-suite")
    message = str(info.value)
    assert message.startswith("unknown task 'no-such-suite': not a built-in suite (")
    assert "nor a .jsonl/.csv file" in message
    for name in registry.suite_names():
        assert name in message
    assert issubclass(TaskError, LayerTracerError)


def test_empty_spec_is_unknown_not_the_current_directory() -> None:
    with pytest.raises(TaskError, match="unknown task '': not a built-in suite"):
        load_task("")


def test_near_miss_name_gets_a_suggestion() -> None:
    with pytest.raises(TaskError, match="did you mean 'capitals'"):
        load_task("capital")


def test_missing_file_wrong_extension_and_directory(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.jsonl")
    with pytest.raises(TaskError, match="task file not found"):
        load_task(missing)
    assert validate_file(missing) == [f"task file not found: {missing}"]
    txt = write(tmp_path, "prompts.txt", jsonl(good(1)))
    with pytest.raises(TaskError, match=r"expected a \.jsonl or \.csv extension"):
        load_task(txt)
    with pytest.raises(TaskError, match="is a directory"):
        load_task(str(tmp_path))


# --- max_items and warnings ----------------------------------------------------------


def test_max_items_keeps_the_first_n(tmp_path: Path) -> None:
    path = write(tmp_path, "five.jsonl", jsonl(*(good(n) for n in range(1, 6))))
    assert [item.id for item in load_task(path, max_items=2).items] == ["q1", "q2"]
    assert len(load_task(path, max_items=99).items) == 5
    assert len(load_task("capitals", max_items=7).items) == 7
    for bad in (0, -1, True, 2.0):
        with pytest.raises(TaskError, match="max_items must be a positive integer"):
            load_task(path, max_items=bad)  # type: ignore[arg-type]


def test_max_items_still_validates_the_whole_file(tmp_path: Path) -> None:
    path = write(tmp_path, "late.jsonl", jsonl(good(1), good(2)) + "oops\n")
    with pytest.raises(TaskError, match=":3: invalid JSON"):
        load_task(path, max_items=1)


def test_glued_target_gives_one_summary_warning(tmp_path: Path) -> None:
    rows = [
        good(1),  # " yes": fine
        {"id": "a", "prompt": "The capital of France is", "target": "Paris"},
        {"id": "b", "prompt": "Answer:\n", "target": "Rome"},  # prompt ends with whitespace
        {"id": "c", "prompt": "The capital of Italy is", "target": "Rome"},
    ]
    task = load_task(write(tmp_path, "glued.jsonl", jsonl(*rows)))
    assert isinstance(task, Task) and len(task.items) == 4
    assert len(task.warnings) == 1
    warning = task.warnings[0]
    assert warning.startswith("2 items have no whitespace between prompt and target")
    assert "'a'" in warning and "'isParis'" in warning
    assert task.items[1].target == "Paris"  # kept exactly as given
    assert load_task(task.source, max_items=1).warnings == ()  # only the kept items count


# --- field names, several tasks, Hugging Face dataset folders --------------------------

FIELDS = ("question", "answer")


def test_prompt_and_target_fields_can_be_renamed(tmp_path: Path) -> None:
    path = write(tmp_path, "qa.jsonl", jsonl({"question": "Q is", "answer": " A", "id": 1}))
    task = load_task(path, fields=FIELDS)
    assert (task.items[0].prompt, task.items[0].target, task.items[0].id) == ("Q is", " A", "1")
    csv_path = write(tmp_path, "qa.csv", 'question,answer\n"Q, is", A\n')
    assert load_task(csv_path, fields=FIELDS).items[0].prompt == "Q, is"
    bad = write(tmp_path, "bad.jsonl", jsonl({"question": "Q", "answer": " A"}, {"question": "R"}))
    with pytest.raises(TaskError, match=r"bad.jsonl:2: missing field 'answer'"):
        load_task(bad, fields=FIELDS)
    with pytest.raises(TaskError, match=r"qa.csv:1: the header row has no 'prompt'"):
        load_task(csv_path)
    assert validate_file(bad, fields=FIELDS) == [f"{bad}:2: missing field 'answer'"]


def test_comma_list_tags_suites_and_cuts_each_task() -> None:
    task = load_tasks("capitals, antonyms", max_items=4)
    assert task.name == "capitals,antonyms"
    assert [it.suite for it in task.items] == ["capitals"] * 4 + ["antonyms"] * 4
    assert task.items[:4] == tuple(
        replace(it, suite="capitals") for it in load_task("capitals", 4).items
    )
    assert load_tasks("capitals").items[0].suite == "capitals"
    assert load_task("capitals", 1, fields=FIELDS).items[0].prompt  # built-ins keep their names
    for spec in ("capitals,,antonyms", "capitals,capitals", "capitals,nope"):
        with pytest.raises(TaskError):
            load_tasks(spec)


def test_colliding_ids_of_two_files_get_the_task_name(tmp_path: Path) -> None:
    one = write(tmp_path, "one.jsonl", jsonl(good(1), good(2)))
    two = write(tmp_path, "two.jsonl", jsonl(good(1)))
    task = load_tasks(f"{one},{two}")
    assert [it.id for it in task.items] == ["one:q1", "one:q2", "two:q1"]


needs_datasets = pytest.mark.skipif(
    importlib.util.find_spec("datasets") is None,
    reason="the optional extra [datasets] is not installed (pip install -e '.[datasets]')",
)


def _saved(tmp_path: Path, splits: dict[str, dict[str, list]] | None = None) -> str:
    """A DatasetDict saved with save_to_disk; returns its folder."""
    import datasets

    splits = splits or {
        "train": {"question": ["2 + 2 =", "3 + 3 ="], "answer": [4, 6]},
        "test": {"question": ["1 + 1 ="], "answer": [2]},
    }
    folder = tmp_path / "ds"
    parts = {name: datasets.Dataset.from_dict(cols) for name, cols in splits.items()}
    datasets.DatasetDict(parts).save_to_disk(str(folder))
    return str(folder)


@needs_datasets
def test_dataset_folder_loads_with_split_fields_and_int_targets(tmp_path: Path) -> None:
    import datasets

    folder = _saved(tmp_path)
    test = load_task(folder, fields=FIELDS)
    assert [(it.prompt, it.target, it.id) for it in test.items] == [("1 + 1 =", "2", "item-1")]
    train = load_task(folder, fields=FIELDS, split="train")
    assert [it.target for it in train.items] == ["4", "6"]
    single = tmp_path / "single"
    datasets.Dataset.from_dict({"prompt": ["Hi"], "target": [" there"]}).save_to_disk(str(single))
    assert load_task(str(single)).items[0].target == " there"


@needs_datasets
def test_dataset_folder_problems_are_one_line(tmp_path: Path, monkeypatch) -> None:
    folder = _saved(tmp_path)
    with pytest.raises(TaskError, match=r"no column 'prompt', 'target' \(it has 'question', "):
        load_task(folder)
    with pytest.raises(TaskError, match="no split 'dev'"):
        load_task(folder, fields=FIELDS, split="dev")
    empty = _saved(tmp_path / "e", {"test": {"prompt": ["a", ""], "target": [" b", " c"]}})
    assert validate_file(empty) == [f"{empty}[test]:2: field 'prompt' is empty"]
    (tmp_path / "plain").mkdir()
    with pytest.raises(TaskError, match="not a Hugging Face dataset"):
        load_task(str(tmp_path / "plain"))
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)
    with pytest.raises(TaskError, match=r"needs the optional package `datasets`"):
        load_task(folder, fields=FIELDS)
