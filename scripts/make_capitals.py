"""Regenerate the built-in ``capitals`` suite from the ``countryinfo`` package.

The source is the PyPI package ``countryinfo`` (MIT licence), pinned to the version
below; it is needed only to run this script, not by layertracer itself::

    pip install countryinfo==1.0.1
    python scripts/make_capitals.py           # rewrite src/layertracer/tasks/data/capitals.jsonl
    python scripts/make_capitals.py --check   # exit 1 if the file differs from the source

Rules, all written down here as data:

- UN member states only (territories, defunct and partially recognised states out);
- countries whose capital is split or disputed are skipped (``AMBIGUOUS``);
- countries whose capital repeats the country's name are skipped ("Kuwait City",
  "Tunis"): the answer could be copied from the prompt, which says nothing about
  where the model *recalls* it;
- two facts the source has out of date are corrected (``CORRECTED_CAPITALS``,
  ``RENAMED_COUNTRIES``).

Every name in these tables must exist in the source, so a typo or a changed
source fails loudly instead of silently letting an item through.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # when imported by the tests
import suite_common

SOURCE_PACKAGE = "countryinfo"
SOURCE_VERSION = "1.0.1"
TEMPLATE = "The capital of {country} is"
MIN_ITEMS = 120
OUT = Path(__file__).resolve().parents[1] / "src/layertracer/tasks/data/capitals.jsonl"

NOT_UN_MEMBERS = frozenset({
    "American Samoa", "Anguilla", "Antarctica", "Antilles néerlandaises", "Aruba",
    "Bermuda", "Bonaire, Sint Eustatius and Saba", "Bouvet Island",
    "British Indian Ocean Territory", "Cayman Islands", "Christmas Island",
    "Cocos (Keeling) Islands", "Cook Islands", "Curaçao", "Falkland Islands",
    "Faroe Islands", "French Guiana", "French Polynesia",
    "French Southern and Antarctic Lands", "Gibraltar", "Greenland", "Guadeloupe", "Guam",
    "Guernsey", "Heard Island and McDonald Islands", "Holy See (Vatican City State)",
    "Hong Kong", "Isle of Man", "Jersey", "Macau", "Martinique", "Mayotte", "Montserrat",
    "New Caledonia", "Niue", "Norfolk Island", "Northern Mariana Islands",
    "Palestine", "Palestine, State of", "Pitcairn Islands", "Puerto Rico", "Réunion",
    "Saint Barthélemy", "Saint Helena", "Saint Martin (French part)",
    "Saint Pierre and Miquelon", "Scotland", "Serbia and Montenegro",
    "Sint Maarten (Dutch part)", "South Georgia", "Svalbard and Jan Mayen", "Taiwan",
    "Tokelau", "Turks and Caicos Islands", "United States Minor Outlying Islands",
    "Vatican City State", "Virgin Islands, British", "Virgin Islands, U.S.", "Wales",
    "Wallis and Futuna", "Western Sahara", "Åland Islands",
})  # fmt: skip

AMBIGUOUS = {
    "Benin": "Porto-Novo is the official capital, Cotonou the seat of government",
    "Bolivia": "Sucre is the constitutional capital, La Paz the seat of government",
    "Burma": "the same country as the source's 'Myanmar'",
    "Burundi": "Gitega is the political capital since 2019, Bujumbura the economic one",
    "Equatorial Guinea": "Malabo, with a move to Ciudad de la Paz decreed and under way",
    "Georgia": "the prompt also reads as the US state (capital Atlanta)",
    "Israel": "the status of Jerusalem is disputed internationally",
    "Ivory Coast": "Yamoussoukro is the official capital, Abidjan the seat of government",
    "Kiribati": "the capital is given as 'Tarawa' or 'South Tarawa'",
    "Nauru": "no official capital (Yaren is the seat of government)",
    "San Marino": "the capital is given as 'San Marino' or 'City of San Marino'",
    "South Africa": "three capitals: Pretoria, Cape Town and Bloemfontein",
    "Sri Lanka": "Sri Jayawardenepura Kotte is the official capital, Colombo the largest city",
    "Swaziland": "renamed Eswatini; Mbabane and Lobamba are both capitals",
    "Tanzania": "Dodoma is the official capital, Dar es Salaam still hosts the government",
    "Yemen": "Sana'a is the constitutional capital, the government sits in Aden",
}

CORRECTED_CAPITALS = {"Kazakhstan": ("Nur-Sultan", "Astana")}  # renamed back in 2022
RENAMED_COUNTRIES = {"Republic of Macedonia": "North Macedonia"}  # renamed in 2019
CAPITALISED_ARTICLE = {"The Bahamas": "Bahamas", "The Gambia": "Gambia"}
TAKES_ARTICLE = frozenset({
    "Bahamas", "Central African Republic", "Comoros", "Czech Republic",
    "Democratic Republic of the Congo", "Dominican Republic",
    "Federated States of Micronesia", "Gambia", "Maldives", "Marshall Islands",
    "Netherlands", "Philippines", "Republic of the Congo", "Seychelles", "Solomon Islands",
    "United Arab Emirates", "United Kingdom", "United States",
})  # fmt: skip


def load_source() -> list[tuple[str, str | None]]:
    """Read (country name, capital) for every country in ``countryinfo``.

    Returns:
        One pair per source entry; the capital is None where the source has none.
    """
    from countryinfo import all_countries  # only this script needs countryinfo

    rows = []
    for country in all_countries():
        capital = country.info().get("capital")
        rows.append((country.name(), capital if isinstance(capital, str) else None))
    return rows


def source_version() -> str | None:
    """The installed version of the source package, or None if it is not installed."""
    try:
        return metadata.version(SOURCE_PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def warn_stale_source(script: str) -> None:
    """Warns on stderr when the installed countryinfo is not the one the data was made from."""
    version = source_version()
    if version != SOURCE_VERSION:
        print(
            f"{script}: warning: {SOURCE_PACKAGE} {version} installed, the data was "
            f"made from {SOURCE_VERSION}",
            file=sys.stderr,
        )


def check_tables(rows: list[tuple[str, str | None]]) -> None:
    """Fail if a table above names a country, or an old capital, the source lacks.

    Args:
        rows: The source rows from :func:`load_source`.

    Raises:
        SystemExit: Naming every stale entry.
    """
    source = dict(rows)
    named = set(NOT_UN_MEMBERS) | set(AMBIGUOUS) | set(RENAMED_COUNTRIES)
    named |= set(CAPITALISED_ARTICLE) | set(CORRECTED_CAPITALS)
    stale = sorted(name for name in named if name not in source)
    stale += [
        f"{name}: source capital is {source.get(name)!r}, not {old!r}"
        for name, (old, _new) in CORRECTED_CAPITALS.items()
        if name in source and source[name] != old
    ]
    if stale:
        raise SystemExit(f"make_capitals: the tables disagree with the source: {stale}")


def exclusion(name: str, capital: str | None) -> str | None:
    """Why a source row is left out of the suite, or None if it is kept.

    Args:
        name: The country name as the source spells it.
        capital: The capital as the source gives it.
    """
    if name in NOT_UN_MEMBERS:
        return "not a UN member state"
    if name in AMBIGUOUS:
        return AMBIGUOUS[name]
    if not capital:
        return "no capital in the source"
    first_word = capital.split()[0].strip(".,'").casefold()
    if first_word in name.casefold():
        return "the capital repeats the country's name"
    return None


def slug(text: str) -> str:
    """Lower-case ASCII id part: ``"Côte d'Ivoire"`` -> ``"cote-d-ivoire"``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def build_items(rows: list[tuple[str, str | None]]) -> list[dict[str, str]]:
    """Turn source rows into suite items, sorted by country.

    Args:
        rows: (country name, capital) pairs.

    Returns:
        Items with keys ``id``, ``prompt``, ``target`` (leading space) and ``subject``.
    """
    items = []
    for name, capital in rows:
        old, new = CORRECTED_CAPITALS.get(name, (capital, capital))
        if capital == old:
            capital = new
        if exclusion(name, capital) is not None or capital is None:
            continue
        subject = CAPITALISED_ARTICLE.get(name, RENAMED_COUNTRIES.get(name, name))
        country = f"the {subject}" if subject in TAKES_ARTICLE else subject
        items.append({
            "id": f"capitals-{slug(subject)}",
            "prompt": TEMPLATE.format(country=country),
            "target": f" {capital}",
            "subject": subject,
        })  # fmt: skip
    items.sort(key=lambda item: item["subject"].casefold())
    return items


def render(items: list[dict[str, str]]) -> str:
    """The JSONL text of the suite (UTF-8, one object per line, final newline)."""
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def generate() -> str:
    """Load the source, check the tables and return the suite's JSONL text.

    Raises:
        SystemExit: When the source is stale, too small or has duplicate items.
    """
    warn_stale_source("make_capitals")
    rows = load_source()
    check_tables(rows)
    items = build_items(rows)
    for key in ("id", "prompt"):
        if len({item[key] for item in items}) != len(items):
            raise SystemExit(f"make_capitals: duplicate {key}s")
    if len(items) < MIN_ITEMS:
        raise SystemExit(f"make_capitals: only {len(items)} items (need {MIN_ITEMS})")
    return render(items)


def main(argv: list[str] | None = None) -> int:
    """Write (or, with ``--check``, compare) the suite file. Returns the exit status."""
    return suite_common.main("capitals", generate, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
