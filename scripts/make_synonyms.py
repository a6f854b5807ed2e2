"""Generate the built-in ``synonyms`` suite from WordNet 3.0: "A synonym for big is" -> " large".

Sources (Debian packages, see ``wordnet_db``): ``wordnet-base`` (WordNet 3.0, WordNet 3.0
licence) and ``wamerican`` (word list, public domain)::

    apt-get install wordnet-base wamerican
    python scripts/make_synonyms.py           # rewrite .../data/synonyms.jsonl
    python scripts/make_synonyms.py --check   # exit 1 if the file differs

Rules, all written down here:

- the cue's synonyms are the other words of the synset of its most frequent sense
  (sense 1), and only those for which that synset is their most frequent sense too
  (``big`` and ``large``: both mean "above average in size" first);
- both words are lower-case, alphabetic, at most ``MAX_LETTERS`` letters and in the
  ``wamerican`` word list, neither contains the other, and both senses are tagged at
  least ``MIN_COUNT[pos]`` times in SemCor;
- one target per cue: the synonym tagged most often, and no rival tagged at least half
  as often (``curious`` -> ``queer``, ``peculiar``, ``odd``, ... is out);
- adjectives first; verbs, with a higher frequency bar, make up the rest;
- the cue occurs only once in the prompt;
- ``EXCLUDED`` removes, by hand, cues whose WordNet synonym is dated, rude, a narrow
  sense, a spelling variant, or a word that is more often another part of speech.

Items are sorted by part of speech (adjectives, then verbs), then cue; ``subject`` is
the cue. The template "A synonym for big is" was chosen over "A word that means big is"
and "Another word for big is" because SmolLM2-135M ranks the targets far higher after
it (median rank 12 against 635 and 200, zero-shot): the others invite " a" or a quote.
"""

from __future__ import annotations

import wordnet_db as wn
from suite_common import Item, finish, item, run

NAME = "synonyms"
MIN_ITEMS = 120
TEMPLATE = "A synonym for {cue} is"
MAX_LETTERS = 8
MIN_COUNT = {"a": 3, "v": 10}
SOURCE_VERSIONS = {"wordnet-base": "1:3.0-37", "wamerican": "2020.12.07-2"}

# cue -> why it is left out
EXCLUDED = {
    # adjectives
    "absorbed": "WordNet: 'intent'; a narrow sense",
    "intent": "'absorbed'; more often a noun",
    "blazing": "'glaring': a narrow sense",
    "glaring": "'blazing': a narrow sense",
    "cheery": "WordNet: 'gay', a dated sense",
    "gay": "WordNet: 'cheery', a dated sense",
    "crisp": "'sharp': a narrow sense",
    "sharp": "'crisp': a narrow sense",
    "curved": "'curving': the same word",
    "curving": "'curved': the same word",
    "darned": "'damned': rude",
    "done": "WordNet: 'through'",
    "through": "WordNet: 'done'; more often a preposition",
    "given": "'granted': a narrow sense",
    "granted": "'given': a narrow sense",
    "inherent": "'integral': 'innate' or 'intrinsic' as likely",
    "integral": "'inherent': 'essential' as likely",
    "mean": "'average'; more often a verb, or 'unkind'",
    "minimal": "'minimum': the same word",
    "minimum": "'minimal': the same word",
    "optimal": "'optimum': the same word",
    "optimum": "'optimal': the same word",
    "mixed": "'sundry': a rare word",
    "sundry": "'mixed': a rare word",
    "piteous": "'poor': a rare word",
    "poor": "WordNet: 'piteous'",
    "swollen": "WordNet: 'vain'",
    "vain": "WordNet: 'swollen'",
    "suitable": "'suited': the same word",
    "suited": "'suitable': the same word",
    "elderly": "'older': 'old' or 'aged' as likely",
    "older": "'elderly': a comparative",
    # verbs
    "approach": "WordNet: 'near'",
    "near": "more often an adjective",
    "call": "WordNet: 'name'",
    "name": "more often a noun",
    "cease": "WordNet: 'quit'; 'stop' as likely",
    "quit": "WordNet: 'cease'; 'stop' as likely",
    "close": "more often an adjective",
    "clutch": "WordNet: 'seize'; 'grip' or 'grasp' as likely",
    "seize": "WordNet: 'clutch'; 'grab' as likely",
    "do": "WordNet: 'make'",
    "make": "WordNet: 'do'",
    "draw": "WordNet: 'pull'; many senses",
    "pull": "WordNet: 'draw'",
    "engage": "WordNet: 'pursue': a narrow sense",
    "pursue": "WordNet: 'engage': a narrow sense",
    "exercise": "more often a noun",
    "exert": "WordNet: 'exercise'",
    "form": "more often a noun",
    "organize": "WordNet: 'form'",
    "go": "WordNet: 'move'",
    "move": "WordNet: 'go'",
    "travel": "WordNet: 'go'",
    "hold": "WordNet: 'keep'",
    "maintain": "WordNet: 'keep'",
    "link": "more often a noun",
    "relate": "WordNet: 'link'",
    "note": "more often a noun",
    "remark": "more often a noun",
    "place": "more often a noun",
    "present": "more often a noun or adjective",
    "show": "WordNet: 'present'",
    "race": "more often a noun",
    "rush": "WordNet: 'race'",
    "say": "WordNet: 'tell'",
    "tell": "WordNet: 'say'",
    "state": "more often a noun",
    "view": "more often a noun",
    "warrant": "more often a noun",
    "justify": "WordNet: 'warrant'",
}


def candidates(pos: str) -> dict[str, list[tuple[int, str]]]:
    """cue -> [(SemCor count, synonym)], best first, for one part of speech.

    Only cues whose sense 1 is tagged ``MIN_COUNT[pos]`` times, and synonyms whose sense
    1 is the same synset, tagged as often, are listed.
    """
    table = wn.synsets(pos)
    senses = wn.senses(pos)
    first = {lemma: (offset, count) for (lemma, offset), (n, count) in senses.items() if n == 1}
    found = {}
    for cue, (offset, count) in first.items():
        if count < MIN_COUNT[pos]:
            continue
        options = []
        for word in dict.fromkeys(w.lower() for w in table[offset].words):
            if word == cue or first.get(word, ("",))[0] != offset:
                continue
            if senses[(word, offset)][1] >= MIN_COUNT[pos]:
                options.append((senses[(word, offset)][1], word))
        if options:
            found[cue] = sorted(options, key=lambda pair: (-pair[0], pair[1]))
    return found


def exclusion(cue: str, options: list[tuple[int, str]]) -> str | None:
    """Why the cue is left out, or None when it makes an item."""
    target = options[0][1]
    if cue in EXCLUDED:
        return EXCLUDED[cue]
    if not (wn.plain_word(cue, MAX_LETTERS) and wn.plain_word(target, MAX_LETTERS)):
        return "not a short plain word"
    if cue in target or target in cue:
        return "one word contains the other"
    if len(options) > 1 and 2 * options[1][0] >= options[0][0]:
        return f"rival synonym {options[1][1]!r}"
    if TEMPLATE.format(cue=cue).count(cue) != 1:
        return "the cue occurs twice in the prompt"
    return None


def build_items() -> list[Item]:
    """The suite's items: adjectives, then verbs, each sorted by cue."""
    items = []
    seen: set[str] = set()
    for pos in MIN_COUNT:
        for cue, options in sorted(candidates(pos).items()):
            if cue not in seen and exclusion(cue, options) is None:
                seen.add(cue)
                prompt = TEMPLATE.format(cue=cue)
                items.append(item(f"{NAME}-{cue}", prompt, f" {options[0][1]}", cue))
    return items


def check_excluded() -> None:
    """Fail if ``EXCLUDED`` names a word that is no candidate cue (a typo, a new source)."""
    cues = set()
    for pos in MIN_COUNT:
        cues |= set(candidates(pos))
    stale = sorted(cue for cue in EXCLUDED if cue not in cues)
    if stale:
        raise SystemExit(f"make_{NAME}: EXCLUDED names words that are no candidates: {stale}")


def generate() -> str:
    """Read WordNet and return the suite's JSONL text.

    Raises:
        SystemExit: When the sources are missing, or the suite breaks a rule.
    """
    wn.require_sources(f"make_{NAME}", SOURCE_VERSIONS)
    check_excluded()
    return finish(NAME, build_items(), MIN_ITEMS)


if __name__ == "__main__":
    run(NAME, generate, __doc__)
