"""Tests for the built-in suites beyond ``capitals``, their generators, and few-shot prompts.

The loader contract every suite meets is in ``test_tasks.py``; here each suite's
answers are checked against an independent recomputation, each data file against its
generator's output (skipped, with the reason, when the generator's source is missing),
and ``few_shot`` against its promises.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import operator
import re
import string
import sys
from pathlib import Path
from types import ModuleType

import pytest

from layertracer.errors import TaskError
from layertracer.model.bundled import cache_dir
from layertracer.tasks import Task, TaskItem, few_shot, load_task, registry
from layertracer.tasks.encode import encode

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
NO_COUNTRYINFO = "countryinfo is not installed (pip install -e '.[dev]')"
GENERATED = ("antonyms", "arithmetic", "facts", "sequences", "synonyms", "translation",
             "word_problems")  # fmt: skip
SELF_CONTAINED = ("arithmetic", "sequences", "translation", "word_problems")
WORDNET = ("antonyms", "synonyms")


@functools.cache
def script(name: str) -> ModuleType:
    """Import ``scripts/make_<name>.py`` (its sibling modules are importable too)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(f"make_{name}", SCRIPTS / f"make_{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def items(name: str) -> tuple[TaskItem, ...]:
    """The items of a built-in suite."""
    return load_task(name).items


def data_text(name: str) -> str:
    """The text of a suite's data file."""
    return (ROOT / "src/layertracer/tasks/data" / f"{name}.jsonl").read_text(encoding="utf-8")


# --- every new suite ------------------------------------------------------------------


def test_every_generated_suite_is_registered() -> None:
    assert set(GENERATED) | {"capitals"} <= set(registry.suite_names())
    scripts = {path.stem.removeprefix("make_") for path in SCRIPTS.glob("make_*.py")}
    assert scripts >= set(GENERATED)


@pytest.mark.parametrize("name", GENERATED)
def test_suite_items_are_well_formed(name: str) -> None:
    task = load_task(name)
    entry = registry.suite_entry(name)
    assert len(task.items) >= max(100, entry["min_items"]) and task.warnings == ()
    assert entry["min_items"] == script(name).MIN_ITEMS
    assert len({item.prompt for item in task.items}) == len(task.items)
    for item in task.items:
        assert item.id.startswith(f"{name}-")
        # the target token must be a word or digits, never a bare space: a space before
        # a word belongs to the target, a space before digits to the prompt
        if item.target.strip().isdigit():
            assert item.prompt.endswith(" ") and item.target == item.target.strip()
        else:
            assert item.target.startswith(" ") and not item.target.startswith("  ")
            assert not item.prompt.endswith(" ")
        if item.subject is not None:  # exactly once, so tracing knows the span
            assert item.prompt.count(item.subject) == 1


@pytest.mark.parametrize("name", SELF_CONTAINED)
def test_self_contained_data_equals_what_the_script_generates(name: str) -> None:
    assert data_text(name) == script(name).generate()


@pytest.mark.parametrize("name", WORDNET)
def test_wordnet_data_equals_what_the_script_generates(name: str) -> None:
    module = script(name)
    missing = module.wn.available()
    if missing:
        pytest.skip(f"WordNet sources not installed: {missing}")
    versions = module.wn.package_versions()
    if versions != module.SOURCE_VERSIONS:
        pytest.skip(f"sources {versions} installed, data pinned to {module.SOURCE_VERSIONS}")
    assert data_text(name) == module.generate()


def test_facts_data_equals_what_the_script_generates() -> None:
    pytest.importorskip("countryinfo", reason=NO_COUNTRYINFO)
    module = script("facts")
    if module.source_version() != module.SOURCE_VERSION:
        pytest.skip(f"countryinfo {module.source_version()} installed, data pinned")
    assert data_text("facts") == module.generate()


def test_check_flag_reports_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    module = script("arithmetic")
    main = sys.modules["suite_common"].main
    out = tmp_path / "arithmetic.jsonl"
    assert main("arithmetic", module.generate, module.__doc__, ["--out", str(out)]) == 0
    argv = ["--check", "--out", str(out)]
    assert main("arithmetic", module.generate, module.__doc__, argv) == 0
    out.write_text(out.read_text(encoding="utf-8").replace('"7"', '"8"', 1), encoding="utf-8")
    assert main("arithmetic", module.generate, module.__doc__, argv) == 1
    assert "DIFFERS" in capsys.readouterr().out


def test_finish_refuses_broken_items() -> None:
    script("arithmetic")
    finish, item = sys.modules["suite_common"].finish, sys.modules["suite_common"].item
    good = [item(f"t-{n}", f"q{n} is", " a", f"q{n}") for n in range(3)]
    assert finish("t", good, 3).count("\n") == 3
    broken = {
        "duplicate id": [*good, item("t-0", "other is", " a")],
        "subject not once": [*good, item("t-9", "x is x", " a", "x")],
        "no space before the target": [*good, item("t-9", "x is", "a")],
        "only 3 items": good,
    }
    for message, rows in broken.items():
        with pytest.raises(SystemExit, match=message):
            finish("t", rows, 4 if message.startswith("only") else 3)


@functools.cache
def smollm2_tokenizer():
    """The bundled model's tokenizer, if its converted weights are cached (else None)."""
    folder = cache_dir() / "smollm2-135m"
    if not (folder / "tokenizer.json").is_file():
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


@pytest.mark.parametrize("name", GENERATED)
def test_target_tokens_are_words_for_smollm2(name: str) -> None:
    tokenizer = smollm2_tokenizer()
    if tokenizer is None:
        pytest.skip(
            "smollm2-135m is not converted yet (layertracer run --methods lens --max-prompts 1)"
        )
    for item in items(name):
        encoded = encode(tokenizer, item.prompt, item.target, item.id)
        assert encoded.warning is None, item.id
        token = tokenizer.decode([encoded.target_id])
        assert token.strip(), f"{item.id}: the target token is {token!r}"
        assert item.target.strip().startswith(token.strip()), item.id


# --- answers recomputed, suite by suite ----------------------------------------------

ARITHMETIC = re.compile(r"(\d{1,2}) ([-+*]) (\d{1,2}) = ")
OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def test_arithmetic_answers_recomputed_from_the_prompt() -> None:
    seen = set()
    for item in items("arithmetic"):
        match = ARITHMETIC.fullmatch(item.prompt)
        assert match, item.prompt
        a, op, b = int(match[1]), match[2], int(match[3])
        value = OPS[op](a, b)
        assert 0 <= value < 100 and item.target == str(value), item.id
        seen.add((op, len(match[1]), len(match[3])))
    assert {("+", 1, 1), ("+", 2, 2), ("-", 2, 1), ("*", 1, 1), ("*", 2, 1)} <= seen


DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]  # fmt: skip


def next_term(terms: list[str]) -> str:
    """The next term of a day, month, letter or arithmetic sequence, checking the terms."""
    for cycle in (DAYS, MONTHS):
        if terms[0] in cycle:
            start = cycle.index(terms[0])
            assert terms == [cycle[(start + k) % len(cycle)] for k in range(len(terms))]
            return cycle[(start + len(terms)) % len(cycle)]
    if all(term.isdigit() for term in terms):
        numbers = [int(term) for term in terms]
        step = numbers[1] - numbers[0]
        assert step > 0 and all(b - a == step for a, b in itertools.pairwise(numbers))
        return str(numbers[-1] + step)
    assert all(len(term) == 1 and term in string.ascii_letters for term in terms)
    assert all(ord(b) - ord(a) == 1 for a, b in itertools.pairwise(terms))
    return chr(ord(terms[-1]) + 1)


def test_sequences_answers_recomputed_from_the_prompt() -> None:
    kinds = set()
    for item in items("sequences"):
        terms = item.prompt.rstrip(" ").removesuffix(",").split(", ")
        assert len(terms) >= 3
        assert item.target.strip() == next_term(terms), item.id
        kinds.add(item.id.split("-")[1])
    assert kinds == {"days", "months", "letters", "by1", "by2", "by5", "by10"}


WORD_PROBLEM_ID = re.compile(r"word_problems-\d{3}-(add|sub|mul|div)-(\d+)-(\d+)")


def test_word_problem_answers_recomputed_from_the_recorded_operation() -> None:
    ops = set()
    for item in items("word_problems"):
        match = WORD_PROBLEM_ID.fullmatch(item.id)
        assert match, item.id
        op, x, y = match[1], int(match[2]), int(match[3])
        assert [int(n) for n in re.findall(r"\d+", item.prompt)] == [x, y], item.id
        value = {"add": x + y, "sub": x - y, "mul": x * y, "div": x // y}[op]
        assert op != "div" or x % y == 0
        assert 1 < value < 100 and item.target == str(value), item.id
        assert item.prompt.endswith("? Answer: ")
        ops.add(op)
    assert ops == {"add", "sub", "mul", "div"}


def test_word_problem_answer_function_rejects_bad_operations() -> None:
    answer = script("word_problems").answer
    assert answer("div", 42, 6) == 7
    for args in (("div", 7, 2), ("div", 7, 0), ("pow", 2, 3)):
        with pytest.raises(ValueError):
            answer(*args)


@pytest.mark.parametrize(("name", "template"), [
    ("antonyms", "The opposite of {} is"),
    ("synonyms", "A synonym for {} is"),
])  # fmt: skip
def test_word_relation_items_follow_the_template(name: str, template: str) -> None:
    cues = set()
    for item in items(name):
        cue, answer = item.subject, item.target.strip()
        assert cue is not None and item.prompt == template.format(cue)
        assert cue.isalpha() and cue.islower() and len(cue) <= 8
        assert answer.isalpha() and answer.islower() and len(answer) <= 8
        assert cue not in answer and answer not in cue
        cues.add(cue)
    assert len(cues) == len(items(name))  # one target per cue


def test_antonyms_have_the_classic_pairs_and_none_of_the_excluded() -> None:
    pairs = {item.subject: item.target for item in items("antonyms")}
    assert pairs["hot"] == " cold" and pairs["cold"] == " hot"
    assert pairs["good"] == " bad" and pairs["young"] == " old"
    assert not set(pairs) & set(script("antonyms").EXCLUDED)


def test_synonyms_have_the_classic_pairs_and_none_of_the_excluded() -> None:
    pairs = {item.subject: item.target for item in items("synonyms")}
    assert pairs["big"] == " large" and pairs["begin"] == " start"
    assert not set(pairs) & set(script("synonyms").EXCLUDED)


def test_facts_follow_their_relation_templates() -> None:
    module = script("facts")
    relations = set()
    for item in items("facts"):
        relation = item.id.split("-")[1]
        relations.add(relation)
        template = module.TEMPLATES[relation]
        assert item.subject is not None
        prefix, suffix = template.split("{subject}")
        assert item.prompt.startswith(prefix) and item.prompt.endswith(suffix)
        assert item.target.strip().casefold() not in item.subject.casefold()
        table = module.HAND_TABLES.get(relation)
        if table is not None:
            assert item.prompt == template.format(subject=item.subject)
            assert table[item.subject] == item.target.strip()
    assert relations == set(module.TEMPLATES)
    eiffel = next(item for item in items("facts") if item.subject == "The Eiffel Tower")
    assert (eiffel.prompt, eiffel.target) == (
        "The Eiffel Tower is located in the city of",
        " Paris",
    )


def test_facts_language_and_currency_agree_with_countryinfo() -> None:
    countryinfo = pytest.importorskip("countryinfo", reason=NO_COUNTRYINFO)
    module = script("facts")
    by_name = {module.country_name(c.name())[0]: c.info() for c in countryinfo.all_countries()}
    checked = 0
    for item in items("facts"):
        relation = item.id.split("-")[1]
        if relation not in ("language", "currency"):
            continue
        info = by_name[item.subject]
        codes = info["languages"] if relation == "language" else info["currencies"]
        names = module.LANGUAGE_NAMES if relation == "language" else module.CURRENCY_NAMES
        assert len(codes) == 1 and names[codes[0]] == item.target.strip(), item.id
        checked += 1
    assert checked >= 40
    brazil = next(item for item in items("facts") if item.id == "facts-language-brazil")
    assert (brazil.prompt, brazil.target) == ("The official language of Brazil is", " Portuguese")


def test_translation_items_follow_the_template() -> None:
    words = script("translation").WORDS
    assert len(set(words.values())) == len(words)  # no two words share a translation
    for item in items("translation"):
        assert item.subject is not None
        assert item.prompt == f"English: {item.subject}\nFrench:"
        french = item.target.strip()
        assert words[item.subject] == french and french != item.subject
        assert french.isalpha() and french == french.lower()
    dog = next(item for item in items("translation") if item.subject == "dog")
    assert dog.target == " chien"


# --- few_shot --------------------------------------------------------------------------


def toy_task(n: int = 6, **targets: str) -> Task:
    """Items ``q<i> is`` -> `` a<i>`` with subject ``q<i>`` (targets overridable by id)."""
    rows = [
        TaskItem(f"t{i}", f"q{i} is", targets.get(f"t{i}", f" a{i}"), f"q{i}") for i in range(n)
    ]
    return Task("toy", "toy.jsonl", tuple(rows), ("a warning",))


def demonstrations(task: Task, shot: Task, index: int) -> list[TaskItem]:
    """Which items of ``task`` make up the prefix of item ``index`` of ``shot``."""
    original = task.items[index]
    prefix = shot.items[index].prompt.removesuffix(original.prompt)
    texts = {f"{item.prompt}{item.target}\n": item for item in task.items}
    found, at = [], 0
    while at < len(prefix):  # prompts may hold newlines: match whole demonstrations
        text = next(text for text in texts if prefix.startswith(text, at))
        found.append(texts[text])
        at += len(text)
    return found


def test_few_shot_prepends_k_demonstrations() -> None:
    task = toy_task(6)
    shot = few_shot(task, 3)
    assert (shot.name, shot.source, shot.warnings) == (task.name, task.source, task.warnings)
    for index, (old, new) in enumerate(zip(task.items, shot.items, strict=True)):
        assert (new.id, new.target, new.subject) == (old.id, old.target, old.subject)
        assert new.prompt.endswith("\n" + old.prompt)
        demos = demonstrations(task, shot, index)
        assert len(demos) == 3 and len({demo.id for demo in demos}) == 3
        assert old not in demos
        assert new.prompt == "".join(f"{d.prompt}{d.target}\n" for d in demos) + old.prompt


def test_few_shot_is_deterministic_for_a_seed() -> None:
    task = load_task("capitals")
    assert few_shot(task, 4, seed=3) == few_shot(task, 4, seed=3)
    assert few_shot(task, 4, seed=3) != few_shot(task, 4, seed=4)
    assert few_shot(task, 0) == task


def test_few_shot_never_uses_an_item_with_the_same_answer() -> None:
    task = toy_task(6, t1=" a0", t2=" A0 ")  # the same answer as t0, up to case and spaces
    shot = few_shot(task, 3)
    assert {demo.id for demo in demonstrations(task, shot, 0)}.isdisjoint({"t1", "t2"})
    with pytest.raises(TaskError, match=r"item 't0' of task 'toy' has only 3 other usable"):
        few_shot(task, 4)


def test_few_shot_needs_k_plus_one_items() -> None:
    assert len(few_shot(toy_task(4), 3).items) == 4
    with pytest.raises(TaskError, match="few-shot with 4 shots needs 5 usable items"):
        few_shot(toy_task(4), 4)
    for bad in (-1, True, 1.5):
        with pytest.raises(TaskError, match="shots must be a non-negative integer"):
            few_shot(toy_task(4), bad)  # type: ignore[arg-type]
    with pytest.raises(TaskError, match="seed must be a non-negative integer"):
        few_shot(toy_task(4), 1, seed=-2)


@pytest.mark.parametrize("name", registry.suite_names())
def test_few_shot_never_leaks_the_answer_on_any_suite(name: str) -> None:
    task = load_task(name)
    shot = few_shot(task, 3, seed=1)
    for index, (old, new) in enumerate(zip(task.items, shot.items, strict=True)):
        prefix = new.prompt.removesuffix(old.prompt)
        assert prefix.count("\n") >= 3
        assert old.prompt + old.target not in prefix
        answer = re.escape(old.target.strip().casefold())
        assert not re.search(rf"(?<!\w){answer}(?!\w)", prefix.casefold()), old.id
        if old.subject is not None:
            assert new.prompt.count(old.subject) == old.prompt.count(old.subject)
        if index < 5:
            assert len(demonstrations(task, shot, index)) == 3


def test_few_shot_skips_the_reverse_antonym() -> None:
    task = load_task("antonyms")
    shot = few_shot(task, 5)
    hot = next(i for i, item in enumerate(task.items) if item.subject == "hot")
    assert "cold" not in shot.items[hot].prompt


def test_suites_json_lists_sources_and_licences() -> None:
    entries = json.loads(
        (ROOT / "src/layertracer/tasks/data/suites.json").read_text(encoding="utf-8")
    )["suites"]
    by_name = {entry["name"]: entry for entry in entries}
    for name in WORDNET:
        assert "WordNet 3.0" in by_name[name]["licence"]
        assert "LICENSE-WordNet.txt" in by_name[name]["licence"]
    for name in ("arithmetic", "sequences", "translation", "word_problems"):
        assert by_name[name]["licence"] == "CC0 (authored for layertracer)"
    assert "countryinfo" in by_name["facts"]["source"]
    assert "hand-authored" in by_name["facts"]["source"].lower()
    notice = ROOT / "src/layertracer/tasks/data/LICENSE-WordNet.txt"
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in notice.read_text()
