"""Build the tiny offline tokenizer bundled in ``src/layertracer/model/tiny/tokenizer``.

A GPT-2-style byte-level BPE (leading-space tokens, every byte representable, so any
ASCII text round-trips) with 1000 tokens, trained on a short public-domain English
text: ``scripts/tiny_tokenizer_corpus.txt`` plus sentences generated below from small
tables of countries, capitals, numbers, days and months. The tokenizer prepends
``<|bos|>`` to every encoding and pads on the right. Deterministic: running it twice
writes identical files.

Usage::

    python scripts/make_tiny_tokenizer.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "scripts" / "tiny_tokenizer_corpus.txt"
OUT = ROOT / "src" / "layertracer" / "model" / "tiny" / "tokenizer"
VOCAB_SIZE = 1000
BOS, EOS, PAD, UNK = "<|bos|>", "<|eos|>", "<|pad|>", "<|unk|>"
SPECIALS = [BOS, EOS, PAD, UNK]  # ids 0, 1, 2, 3

CAPITALS = {
    "France": "Paris",
    "Germany": "Berlin",
    "Italy": "Rome",
    "Spain": "Madrid",
    "Portugal": "Lisbon",
    "England": "London",
    "Ireland": "Dublin",
    "Scotland": "Edinburgh",
    "Norway": "Oslo",
    "Sweden": "Stockholm",
    "Finland": "Helsinki",
    "Denmark": "Copenhagen",
    "Poland": "Warsaw",
    "Austria": "Vienna",
    "Hungary": "Budapest",
    "Greece": "Athens",
    "Russia": "Moscow",
    "Ukraine": "Kyiv",
    "Turkey": "Ankara",
    "Egypt": "Cairo",
    "Kenya": "Nairobi",
    "Nigeria": "Abuja",
    "Morocco": "Rabat",
    "Ghana": "Accra",
    "Japan": "Tokyo",
    "China": "Beijing",
    "India": "Delhi",
    "Korea": "Seoul",
    "Thailand": "Bangkok",
    "Vietnam": "Hanoi",
    "Indonesia": "Jakarta",
    "Iran": "Tehran",
    "Canada": "Ottawa",
    "Mexico": "Mexico City",
    "Cuba": "Havana",
    "Peru": "Lima",
    "Chile": "Santiago",
    "Brazil": "Brasilia",
    "Argentina": "Buenos Aires",
    "Colombia": "Bogota",
    "Australia": "Canberra",
    "Belgium": "Brussels",
    "Netherlands": "Amsterdam",
    "Switzerland": "Bern",
    "Iceland": "Reykjavik",
}
CONTINENTS = {
    "Europe": ["France", "Germany", "Italy", "Spain", "Greece", "Poland", "Norway"],
    "Asia": ["Japan", "China", "India", "Korea", "Thailand", "Vietnam"],
    "Africa": ["Egypt", "Kenya", "Nigeria", "Morocco", "Ghana"],
    "America": ["Canada", "Mexico", "Brazil", "Peru", "Chile", "Argentina"],
}
NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def generated_sentences() -> list[str]:
    """Sentences from the tables above, in a fixed order."""
    lines = []
    for country, city in CAPITALS.items():
        lines.append(f"The capital of {country} is {city}. {city} is the capital of {country}.")
    for continent, countries in CONTINENTS.items():
        lines += [f"{country} is a country in {continent}." for country in countries]
    for i, word in enumerate(NUMBERS[:-1]):
        lines.append(f"After {word} comes {NUMBERS[i + 1]}. {i} + 1 = {i + 1}.")
        lines.append(f"{word.capitalize()} plus one is {NUMBERS[i + 1]}.")
    for seq in (DAYS, MONTHS):
        for i, name in enumerate(seq):
            lines.append(
                f"The day after {name} is {seq[(i + 1) % len(seq)]}."
                if seq is DAYS
                else f"The month after {name} is {seq[(i + 1) % len(seq)]}."
            )
            lines.append(f"On {name} we count {i + 1}, {10 * (i + 1)} and {100 * (i + 1)}.")
    return lines


def corpus() -> list[str]:
    """The training text: the corpus file's lines, then the generated sentences."""
    text = CORPUS.read_text(encoding="utf-8").splitlines()
    return [line for line in text if line.strip()] + generated_sentences()


def build() -> Tokenizer:
    """Train the byte-level BPE and attach the BOS post-processor."""
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    bos = tok.token_to_id(BOS)
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS} $A",
                pair=f"{BOS} $A {BOS} $B:1",
                special_tokens=[(BOS, bos)],
            ),
        ]
    )
    return tok


def main(out: Path = OUT) -> None:
    """Train, wrap as a ``PreTrainedTokenizerFast`` and save to ``out``."""
    from transformers import PreTrainedTokenizerFast

    tok = build()
    assert tok.get_vocab_size() == VOCAB_SIZE, tok.get_vocab_size()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="right",
        model_max_length=4096,
        add_bos_token=True,
    )
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))
    print(f"wrote {out} ({tok.get_vocab_size()} tokens)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
