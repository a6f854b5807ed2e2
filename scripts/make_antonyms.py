"""Generate the built-in ``antonyms`` suite from WordNet 3.0: "The opposite of hot is" -> " cold".

Sources (Debian packages, see ``wordnet_db``): ``wordnet-base`` (WordNet 3.0, WordNet 3.0
licence) and ``wamerican`` (word list, public domain)::

    apt-get install wordnet-base wamerican
    python scripts/make_antonyms.py           # rewrite .../data/antonyms.jsonl
    python scripts/make_antonyms.py --check   # exit 1 if the file differs

Rules, all written down here:

- pairs are WordNet's antonym pointers (``!``) between adjectives;
- the cue's antonym is the one of its most frequent sense that has one (lowest sense
  number, then SemCor count);
- both words are lower-case, alphabetic, at most ``MAX_LETTERS`` letters and in the
  ``wamerican`` word list, and both senses are tagged at least ``MIN_COUNT`` times in
  SemCor (common words);
- the pair is mutual: the target's own antonym is the cue (so ``hot`` -> ``cold`` and
  ``cold`` -> ``hot`` are both in, and ``live`` -> ``recorded`` is out);
- neither word contains the other (``happy``/``unhappy``: the answer could be made
  from the prompt, and ``sad`` is as good an answer);
- no rival: no other antonym of the cue, in any part of speech, whose sense is tagged
  at least half as often as the chosen one (``light`` -> ``heavy`` or ``dark``);
- ``EXCLUDED`` removes, by hand, cues whose usual opposite is not WordNet's.

Items are sorted by cue word; ``subject`` is the cue.
"""

from __future__ import annotations

import wordnet_db as wn
from suite_common import Item, finish, item, run

NAME = "antonyms"
MIN_ITEMS = 120
TEMPLATE = "The opposite of {cue} is"
MAX_LETTERS = 8
MIN_COUNT = 2
SOURCE_VERSIONS = {"wordnet-base": "1:3.0-37", "wamerican": "2020.12.07-2"}

# cue -> why it is left out (WordNet's antonym is not the one a reader expects)
EXCLUDED = {
    "close": "as a verb its opposite is 'open'; as an adjective 'far' more than 'distant'",
    "distant": "'near' or 'close'",
    "live": "WordNet: 'recorded'; a reader says 'dead'",
    "recorded": "the pair live/recorded is a narrow sense",
    "ripe": "WordNet: 'green'; a reader says 'unripe' or 'raw'",
    "green": "the pair green/ripe is a narrow sense",
    "loose": "WordNet: 'compact'; a reader says 'tight'",
    "compact": "the pair loose/compact is a narrow sense",
    "hard": "WordNet: 'soft'; 'easy' is as common",
    "soft": "'hard' or 'loud'",
    "separate": "WordNet: 'joint'; 'together' or 'combined' as likely",
    "joint": "the pair separate/joint is a narrow sense",
    "busy": "WordNet: 'idle'; a reader says 'free'",
    "idle": "'busy' or 'active'",
    "well": "WordNet: 'ill'; 'badly' or 'sick' as likely",
    "ill": "'well' or 'healthy'",
    "stubborn": "WordNet: 'docile'; 'flexible' as likely",
    "docile": "'stubborn', 'wild' or 'fierce'",
    "rugged": "WordNet: 'delicate'; 'smooth' as likely",
    "delicate": "'rugged', 'robust' or 'sturdy'",
    "lively": "WordNet: 'dull'; 'boring' or 'quiet' as likely",
    "dull": "'bright', 'sharp' or 'lively'",
    "tough": "WordNet: 'tender'; 'easy' or 'weak' as likely",
    "tender": "'tough' or 'hard'",
    "nice": "WordNet: 'nasty'; 'mean' or 'bad' as likely",
    "nasty": "'nice' or 'pleasant'",
    "big": "WordNet: 'little'; a reader says 'small'",
    "sad": "WordNet: 'glad'; a reader says 'happy'",
    "round": "WordNet: 'square'; an odd question",
    "square": "WordNet: 'round'; an odd question",
    "other": "WordNet: 'same'; an odd question",
    "pro": "WordNet: 'anti'; 'con' as likely",
    "same": "'different' or 'other'",
}


def antonym_candidates(pos: str) -> dict[str, dict[str, tuple[int, int, int]]]:
    """cue -> {antonym: (cue sense number, cue sense count, antonym sense count)}.

    Args:
        pos: ``a``, ``n``, ``v`` or ``r``; lemmas are lower-cased.
    """
    table = wn.synsets(pos, " ! ")  # only synsets with antonyms
    senses = wn.senses(pos)
    found: dict[str, dict[str, tuple[int, int, int]]] = {}
    for synset in table.values():
        for symbol, target, _pos, source, dest in synset.pointers:
            if symbol != "!" or target not in table:
                continue
            cue = synset.words[source - 1].lower()
            other = table[target].words[dest - 1].lower()
            number, count = senses[(cue, synset.offset)]
            _, other_count = senses[(other, target)]
            entry = (number, count, other_count)
            old = found.setdefault(cue, {}).get(other)
            if old is None or (number, -count) < (old[0], -old[1]):
                found[cue][other] = entry
    return found


def best(options: dict[str, tuple[int, int, int]]) -> str:
    """The antonym of the cue's most frequent sense (then its count, then the word)."""
    return min(options, key=lambda word: (options[word][0], -options[word][1], word))


def exclusion(cue: str, adjectives: dict, everywhere: list[dict]) -> str | None:
    """Why the cue is left out, or None when it makes an item.

    Args:
        cue: The cue word.
        adjectives: :func:`antonym_candidates` of the adjectives.
        everywhere: :func:`antonym_candidates` of every part of speech.
    """
    target = best(adjectives[cue])
    _number, count, target_count = adjectives[cue][target]
    if cue in EXCLUDED:
        return EXCLUDED[cue]
    if not (wn.plain_word(cue, MAX_LETTERS) and wn.plain_word(target, MAX_LETTERS)):
        return "not a short plain word"
    if cue in target or target in cue:
        return "one word contains the other"
    if target not in adjectives or best(adjectives[target]) != cue:
        return "not mutual"
    if min(count, target_count) < MIN_COUNT:
        return "rare"
    for table in everywhere:
        for other, (_n, other_count, _t) in table.get(cue, {}).items():
            if other != target and 2 * other_count >= count:
                return f"rival antonym {other!r}"
    return None


def build_items() -> list[Item]:
    """The suite's items, sorted by cue."""
    adjectives = antonym_candidates("a")
    everywhere = [antonym_candidates(pos) for pos in ("a", "n", "v", "r")]
    stale = sorted(cue for cue in EXCLUDED if cue not in adjectives)
    if stale:
        raise SystemExit(f"make_{NAME}: EXCLUDED names words with no antonym: {stale}")
    items = []
    for cue in sorted(adjectives):
        if exclusion(cue, adjectives, everywhere) is None:
            target = best(adjectives[cue])
            items.append(item(f"{NAME}-{cue}", TEMPLATE.format(cue=cue), f" {target}", cue))
    return items


def generate() -> str:
    """Read WordNet and return the suite's JSONL text.

    Raises:
        SystemExit: When the sources are missing, or the suite breaks a rule.
    """
    wn.require_sources(f"make_{NAME}", SOURCE_VERSIONS)
    return finish(NAME, build_items(), MIN_ITEMS)


if __name__ == "__main__":
    run(NAME, generate, __doc__)
