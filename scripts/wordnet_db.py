"""Read the WordNet 3.0 database files as Debian ships them, for the word-relation suites.

Sources, both Debian packages (``apt-get install wordnet-base wamerican``):

- ``wordnet-base``: the WordNet 3.0 database in ``/usr/share/wordnet`` (``$WNSEARCHDIR``
  overrides the folder, as for the WordNet tools): ``data.<pos>`` (synsets and their
  pointers), ``index.<pos>`` (each lemma's synsets in sense order) and ``cntlist.rev``
  (how often each sense is tagged in the SemCor corpus: the frequency used here);
- ``wamerican``: the American English word list ``/usr/share/dict/american-english``,
  used to keep only ordinary English words.

The file formats are those of the ``wndb(5WN)`` manual page.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

WORDS_FILE = Path("/usr/share/dict/american-english")
PACKAGES = ("wordnet-base", "wamerican")
POS_FILES = {"a": "adj", "n": "noun", "v": "verb", "r": "adv"}
_KEY_POS = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}  # sense-key ss_type -> pos


def wordnet_dir() -> Path:
    """The folder of the WordNet database files."""
    return Path(os.environ.get("WNSEARCHDIR") or "/usr/share/wordnet")


def available() -> str | None:
    """None when the sources can be read, else why not (for a test's skip reason)."""
    needed = [wordnet_dir() / f"{name}.{pos}" for name in ("data", "index") for pos in ("adj",)]
    needed += [wordnet_dir() / "cntlist.rev", WORDS_FILE]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        return f"missing {', '.join(missing)} (apt-get install {' '.join(PACKAGES)})"
    return None


def package_versions() -> dict[str, str | None]:
    """The installed Debian version of each source package (None: not known)."""
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            done = subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", package],
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError:
            versions[package] = None
            continue
        versions[package] = done.stdout.strip() if done.returncode == 0 else None
    return versions


@dataclass(frozen=True)
class Synset:
    """One synset of ``data.<pos>``.

    Attributes:
        offset: The synset's offset (its id within the part of speech).
        ss_type: ``n``, ``v``, ``a`` (head adjective), ``s`` (satellite) or ``r``.
        words: Its lemmas in order, as written (underscores for spaces, adjective
            markers such as ``(a)`` removed).
        pointers: ``(symbol, target offset, target pos, source word, target word)``;
            word numbers are 1-based, 0 for a pointer between whole synsets.
    """

    offset: str
    ss_type: str
    words: tuple[str, ...]
    pointers: tuple[tuple[str, str, str, int, int], ...]


@cache
def synsets(pos: str, needle: str = "") -> dict[str, Synset]:
    """The synsets of one part of speech (``a``, ``n``, ``v`` or ``r``), by offset.

    Args:
        pos: The part of speech.
        needle: Read only the lines that contain this text (faster): ``" ! "`` keeps
            every synset with an antonym pointer, and antonym pointers go both ways.
    """
    table = {}
    path = wordnet_dir() / f"data.{POS_FILES[pos]}"
    with path.open(encoding="latin-1") as lines:
        for line in lines:
            if line.startswith("  ") or needle not in line:  # the licence header
                continue
            fields = line.split(" | ", 1)[0].split()
            count = int(fields[3], 16)
            words = tuple(re.sub(r"\([a-z]+\)$", "", fields[4 + 2 * k]) for k in range(count))
            at = 4 + 2 * count
            pointers = []
            for _ in range(int(fields[at])):
                symbol, target, target_pos, numbers = fields[at + 1 : at + 5]
                source, dest = int(numbers[:2], 16), int(numbers[2:], 16)
                pointers.append((symbol, target, target_pos, source, dest))
                at += 4
            table[fields[0]] = Synset(fields[0], fields[2], words, tuple(pointers))
    return table


@cache
def _tag_counts() -> Counter[tuple[str, str, int]]:
    """``cntlist.rev``: (lemma, pos, sense number) -> how often SemCor tags that sense."""
    counts: Counter[tuple[str, str, int]] = Counter()
    with (wordnet_dir() / "cntlist.rev").open(encoding="latin-1") as lines:
        for line in lines:
            key, sense, tagged = line.split()
            lemma, rest = key.split("%", 1)
            counts[(lemma, _KEY_POS[rest[0]], int(sense))] += int(tagged)
    return counts


@cache
def senses(pos: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(lemma, synset offset) -> (sense number, SemCor count) for one part of speech.

    Lemmas are lower case, as in ``index.<pos>``; sense 1 is the most frequent.
    """
    counts = _tag_counts()
    table = {}
    with (wordnet_dir() / f"index.{POS_FILES[pos]}").open(encoding="latin-1") as lines:
        for line in lines:
            if line.startswith("  "):
                continue
            fields = line.split()
            lemma, synset_count = fields[0], int(fields[2])
            for number, offset in enumerate(fields[-synset_count:], start=1):
                table[(lemma, offset)] = (number, counts[(lemma, pos, number)])
    return table


@cache
def lemma_counts() -> Counter[str]:
    """Lemma -> its SemCor count over every sense and part of speech."""
    total: Counter[str] = Counter()
    for (lemma, _pos, _sense), tagged in _tag_counts().items():
        total[lemma] += tagged
    return total


@cache
def word_list() -> frozenset[str]:
    """The words of the ``wamerican`` list, as written."""
    return frozenset(WORDS_FILE.read_text(encoding="utf-8").split())


def plain_word(word: str, max_letters: int) -> bool:
    """A lower-case alphabetic word of at most ``max_letters`` letters in the word list."""
    return (
        word.isascii()
        and word.isalpha()
        and word.islower()
        and len(word) <= max_letters
        and word in word_list()
    )


def require_sources(script: str, expected: dict) -> None:
    """Stops if WordNet or the word list is missing; warns if their versions differ.

    Args:
        script: The generator's name, for the messages.
        expected: The package versions the committed data was made from.
    """
    missing = available()
    if missing:
        raise SystemExit(f"{script}: {missing}")
    versions = package_versions()
    if versions != expected:
        print(
            f"{script}: warning: sources {versions} installed, the data was made from {expected}",
            file=sys.stderr,
        )
