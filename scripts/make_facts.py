"""Generate the built-in ``facts`` suite: subject-relation-object recall, ROME/CounterFact style.

"The Eiffel Tower is located in the city of" -> " Paris", with ``subject`` "The Eiffel
Tower" (the span causal tracing corrupts). Sources:

- the official language and the currency of a country: the PyPI package ``countryinfo``
  (MIT licence, pinned below; needed only to run this script) says *which* language or
  currency (ISO 639-1 / ISO 4217 codes); their English names come from the tables
  ``LANGUAGE_NAMES`` and ``CURRENCY_NAMES`` here;
- every other relation: the tables below, authored for layertracer and checked by hand
  (CC0). Only well-known facts with one answer are in them: no company that moved its
  headquarters in recent years, no landmark on a border or with a namesake, no answer
  that needs an article ("the United States").

::

    pip install countryinfo==1.0.1
    python scripts/make_facts.py           # rewrite .../data/facts.jsonl
    python scripts/make_facts.py --check   # exit 1 if the file differs

Rules for the countryinfo relations, written down here as data:

- UN member states only (the list ``make_capitals.py`` keeps);
- a country counts only when countryinfo gives it exactly one language (currency) and
  that code has a name in the table above (so e.g. the out-of-date Croatian kuna,
  ``HRK``, is simply not named);
- languages that name the country ("German" for Germany, "Arabic" for Saudi Arabia:
  the language's first two letters start a word of the country's name) are out, as
  the answer could be made from the prompt; so are the countries in
  ``LANGUAGE_EXCLUDED`` (co-official languages the source does not list, or a
  recent change) and ``COUNTRY_EXCLUDED`` (Georgia, which also names a US state);
- at most ``PER_ANSWER`` countries per answer, the most populous first (countryinfo's
  population), so that "English" or "euro" does not fill the relation.

Each item's id is ``facts-<relation>-<subject slug>``. The file is in a fixed
pseudo-random order (SHA-256 of the id) so that its first items mix every relation.
"""

from __future__ import annotations

from make_capitals import (
    CAPITALISED_ARTICLE,
    NOT_UN_MEMBERS,
    RENAMED_COUNTRIES,
    SOURCE_VERSION,  # noqa: F401 - the tests read the pinned version from this module
    TAKES_ARTICLE,
    slug,
    source_version,  # noqa: F401 - likewise
    warn_stale_source,
)
from suite_common import Item, finish, item, run, stable_order

NAME = "facts"
MIN_ITEMS = 200
PER_ANSWER = 3

# relation -> prompt template; {subject} is the subject exactly as in the item
TEMPLATES = {
    "landmark_city": "{subject} is located in the city of",
    "landmark_country": "{subject} is located in the country of",
    "company_city": "{subject} is headquartered in the city of",
    "birth_country": "{subject} was born in the country of",
    "profession": "By profession, {subject} was a",
    "language": "The official language of {subject} is",
    "currency": "The currency of {subject} is the",
}

LANDMARK_CITY = {
    "The Eiffel Tower": "Paris",
    "The Louvre": "Paris",
    "The Arc de Triomphe": "Paris",
    "Big Ben": "London",
    "Tower Bridge": "London",
    "Buckingham Palace": "London",
    "Westminster Abbey": "London",
    "The Colosseum": "Rome",
    "The Trevi Fountain": "Rome",
    "The Sagrada Família": "Barcelona",
    "The Prado Museum": "Madrid",
    "The Brandenburg Gate": "Berlin",
    "The Reichstag building": "Berlin",
    "Checkpoint Charlie": "Berlin",
    "The Kremlin": "Moscow",
    "Red Square": "Moscow",
    "The Hagia Sophia": "Istanbul",
    "The Blue Mosque": "Istanbul",
    "Topkapi Palace": "Istanbul",
    "The Burj Khalifa": "Dubai",
    "The Statue of Liberty": "New York",
    "The Empire State Building": "New York",
    "Times Square": "New York",
    "The Brooklyn Bridge": "New York",
    "The Golden Gate Bridge": "San Francisco",
    "Alcatraz Island": "San Francisco",
    "The Space Needle": "Seattle",
    "The Gateway Arch": "St. Louis",
    "The Willis Tower": "Chicago",
    "The Alamo": "San Antonio",
    "The Hollywood Sign": "Los Angeles",
    "The White House": "Washington",
    "The Lincoln Memorial": "Washington",
    "The CN Tower": "Toronto",
    "Christ the Redeemer": "Rio de Janeiro",
    "The Acropolis": "Athens",
    "The Parthenon": "Athens",
    "The Forbidden City": "Beijing",
    "Tiananmen Square": "Beijing",
    "The Bund": "Shanghai",
    "The Taj Mahal": "Agra",
    "The Petronas Towers": "Kuala Lumpur",
    "The Rijksmuseum": "Amsterdam",
    "The Anne Frank House": "Amsterdam",
    "The Uffizi Gallery": "Florence",
    "The Rialto Bridge": "Venice",
    "St. Mark's Basilica": "Venice",
    "The Charles Bridge": "Prague",
    "The Alhambra": "Granada",
    "The Atomium": "Brussels",
    "Manneken Pis": "Brussels",
    "The Little Mermaid statue": "Copenhagen",
    "Schönbrunn Palace": "Vienna",
    "Table Mountain": "Cape Town",
}

LANDMARK_COUNTRY = {
    "Machu Picchu": "Peru",
    "Petra": "Jordan",
    "Angkor Wat": "Cambodia",
    "Stonehenge": "England",
    "Mount Fuji": "Japan",
    "Chichen Itza": "Mexico",
    "Teotihuacan": "Mexico",
    "The Great Pyramid of Giza": "Egypt",
    "The Great Sphinx of Giza": "Egypt",
    "Neuschwanstein Castle": "Germany",
    "Mount Kilimanjaro": "Tanzania",
    "Uluru": "Australia",
    "The Great Barrier Reef": "Australia",
    "Mont Saint-Michel": "France",
    "The Palace of Versailles": "France",
    "The Leaning Tower of Pisa": "Italy",
    "Pompeii": "Italy",
    "The Colosseum": "Italy",
    "Loch Ness": "Scotland",
    "Edinburgh Castle": "Scotland",
    "The Cliffs of Moher": "Ireland",
    "Borobudur": "Indonesia",
    "Ha Long Bay": "Vietnam",
    "The Terracotta Army": "China",
    "The Galápagos Islands": "Ecuador",
    "Easter Island": "Chile",
    "Cappadocia": "Turkey",
    "Ephesus": "Turkey",
    "Santorini": "Greece",
    "Mount Olympus": "Greece",
    "The Acropolis": "Greece",
    "Sigiriya": "Sri Lanka",
    "The Kaaba": "Saudi Arabia",
    "The Taj Mahal": "India",
    "Christ the Redeemer": "Brazil",
    "The Kremlin": "Russia",
    "The Alhambra": "Spain",
    "Banff National Park": "Canada",
}

COMPANY_CITY = {
    "Microsoft": "Redmond",
    "Apple": "Cupertino",
    "Google": "Mountain View",
    "Meta": "Menlo Park",
    "Amazon": "Seattle",
    "Starbucks": "Seattle",
    "Intel": "Santa Clara",
    "Nvidia": "Santa Clara",
    "Cisco": "San Jose",
    "Adobe": "San Jose",
    "Netflix": "Los Gatos",
    "Qualcomm": "San Diego",
    "Salesforce": "San Francisco",
    "Uber": "San Francisco",
    "Airbnb": "San Francisco",
    "Walmart": "Bentonville",
    "Nike": "Beaverton",
    "Coca-Cola": "Atlanta",
    "Delta Air Lines": "Atlanta",
    "FedEx": "Memphis",
    "Ford": "Dearborn",
    "General Motors": "Detroit",
    "Procter & Gamble": "Cincinnati",
    "Berkshire Hathaway": "Omaha",
    "Harley-Davidson": "Milwaukee",
    "Dell": "Round Rock",
    "Texas Instruments": "Dallas",
    "Volkswagen": "Wolfsburg",
    "BMW": "Munich",
    "Siemens": "Munich",
    "Mercedes-Benz": "Stuttgart",
    "Porsche": "Stuttgart",
    "Audi": "Ingolstadt",
    "Bayer": "Leverkusen",
    "Deutsche Bank": "Frankfurt",
    "Nestlé": "Vevey",
    "Novartis": "Basel",
    "Roche": "Basel",
    "Rolex": "Geneva",
    "Volvo": "Gothenburg",
    "Ericsson": "Stockholm",
    "Spotify": "Stockholm",
    "Nokia": "Espoo",
    "Lego": "Billund",
    "Carlsberg": "Copenhagen",
    "Heineken": "Amsterdam",
    "Philips": "Amsterdam",
    "Michelin": "Clermont-Ferrand",
    "Ferrari": "Maranello",
    "Unilever": "London",
    "HSBC": "London",
    "Nintendo": "Kyoto",
    "Sony": "Tokyo",
    "Hyundai": "Seoul",
    "Alibaba": "Hangzhou",
    "Tencent": "Shenzhen",
    "Huawei": "Shenzhen",
    "Baidu": "Beijing",
}

BIRTH_COUNTRY = {
    "Albert Einstein": "Germany",
    "Ludwig van Beethoven": "Germany",
    "Johann Sebastian Bach": "Germany",
    "Johann Wolfgang von Goethe": "Germany",
    "Wolfgang Amadeus Mozart": "Austria",
    "Franz Schubert": "Austria",
    "Joseph Haydn": "Austria",
    "Frédéric Chopin": "Poland",
    "Nicolaus Copernicus": "Poland",
    "Marie Curie": "Poland",
    "Pablo Picasso": "Spain",
    "Salvador Dalí": "Spain",
    "Miguel de Cervantes": "Spain",
    "Mahatma Gandhi": "India",
    "Rabindranath Tagore": "India",
    "Nelson Mandela": "South Africa",
    "William Shakespeare": "England",
    "Charles Dickens": "England",
    "Charles Darwin": "England",
    "Isaac Newton": "England",
    "Jane Austen": "England",
    "Leo Tolstoy": "Russia",
    "Fyodor Dostoevsky": "Russia",
    "Pyotr Ilyich Tchaikovsky": "Russia",
    "Yuri Gagarin": "Russia",
    "Dante Alighieri": "Italy",
    "Galileo Galilei": "Italy",
    "Leonardo da Vinci": "Italy",
    "Michelangelo": "Italy",
    "Victor Hugo": "France",
    "Claude Monet": "France",
    "Napoleon Bonaparte": "France",
    "Confucius": "China",
    "Frida Kahlo": "Mexico",
    "Pelé": "Brazil",
    "Diego Maradona": "Argentina",
    "Lionel Messi": "Argentina",
    "Jorge Luis Borges": "Argentina",
    "Gabriel García Márquez": "Colombia",
    "Pablo Neruda": "Chile",
    "Hans Christian Andersen": "Denmark",
    "Henrik Ibsen": "Norway",
    "Edvard Grieg": "Norway",
    "Jean Sibelius": "Finland",
    "Alfred Nobel": "Sweden",
    "Aristotle": "Greece",
    "Plato": "Greece",
    "Oscar Wilde": "Ireland",
    "James Joyce": "Ireland",
    "Akira Kurosawa": "Japan",
    "Bob Marley": "Jamaica",
}

PROFESSION = {
    "Claude Monet": "painter",
    "Vincent van Gogh": "painter",
    "Rembrandt": "painter",
    "Pablo Picasso": "painter",
    "Salvador Dalí": "painter",
    "Johannes Vermeer": "painter",
    "Pierre-Auguste Renoir": "painter",
    "Paul Cézanne": "painter",
    "Edvard Munch": "painter",
    "Frida Kahlo": "painter",
    "Gustav Klimt": "painter",
    "Henri Matisse": "painter",
    "Francisco Goya": "painter",
    "Wolfgang Amadeus Mozart": "composer",
    "Ludwig van Beethoven": "composer",
    "Johann Sebastian Bach": "composer",
    "Frédéric Chopin": "composer",
    "Pyotr Ilyich Tchaikovsky": "composer",
    "Antonio Vivaldi": "composer",
    "Richard Wagner": "composer",
    "Johannes Brahms": "composer",
    "Giuseppe Verdi": "composer",
    "Franz Schubert": "composer",
    "Joseph Haydn": "composer",
    "Claude Debussy": "composer",
    "George Frideric Handel": "composer",
    "Albert Einstein": "physicist",
    "Niels Bohr": "physicist",
    "Max Planck": "physicist",
    "Richard Feynman": "physicist",
    "Werner Heisenberg": "physicist",
    "Erwin Schrödinger": "physicist",
    "Enrico Fermi": "physicist",
}

# ISO 639-1 code -> English name (only codes with one usual English name)
LANGUAGE_NAMES = {
    "am": "Amharic", "ar": "Arabic", "bg": "Bulgarian", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "fa": "Persian",
    "fr": "French", "hr": "Croatian", "hu": "Hungarian", "id": "Indonesian",
    "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ka": "Georgian", "km": "Khmer",
    "ko": "Korean", "lo": "Lao", "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian",
    "mn": "Mongolian", "my": "Burmese", "ne": "Nepali", "nl": "Dutch", "pl": "Polish",
    "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sq": "Albanian",
    "sv": "Swedish", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese",
}  # fmt: skip

# country -> why its language item is left out (the source lists one language)
LANGUAGE_EXCLUDED = {
    "Algeria": "Tamazight is co-official since 2016",
    "Morocco": "Tamazight is co-official since 2011",
    "Peru": "Quechua and Aymara are co-official",
    "Philippines": "Filipino and English are both official",
    "Australia": "no official language in law (English is the national language de facto)",
    "Chile": "no official language in law (Spanish de facto)",
    "Ethiopia": "five federal working languages since 2020",
    "Mexico": "Spanish and 68 indigenous languages are national languages in law",
    "United Kingdom": "no official language in law",
    "Moldova": "the language is called Romanian or Moldovan",
    "Mali": "French is only a working language since the 2023 constitution",
    "Niger": "French is only a working language since the 2025 charter",
    "United States": "no official language in law before a 2025 executive order",
}

# country -> why it is in neither country relation
COUNTRY_EXCLUDED = {"Georgia": "the prompt also reads as the US state"}

# ISO 4217 code -> the currency's usual English name (lower case, as style guides write it)
CURRENCY_NAMES = {
    "BRL": "real", "CZK": "koruna", "DKK": "krone", "EUR": "euro", "GBP": "pound",
    "GEL": "lari", "HUF": "forint", "IDR": "rupiah", "ILS": "shekel", "INR": "rupee",
    "JPY": "yen", "KRW": "won", "KZT": "tenge", "MXN": "peso", "MYR": "ringgit",
    "NGN": "naira", "NOK": "krone", "RON": "leu", "SEK": "krona", "THB": "baht",
    "TRY": "lira", "UAH": "hryvnia", "VND": "dong", "ZAR": "rand",
}  # fmt: skip

HAND_TABLES = {
    "landmark_city": LANDMARK_CITY,
    "landmark_country": LANDMARK_COUNTRY,
    "company_city": COMPANY_CITY,
    "birth_country": BIRTH_COUNTRY,
    "profession": PROFESSION,
}

Row = tuple[str, list[str], list[str], int]  # (country, language codes, currency codes, pop.)


def load_source() -> list[Row]:
    """(country, languages, currencies, population) for every country in ``countryinfo``."""
    from countryinfo import all_countries  # only this script needs countryinfo

    rows = []
    for country in all_countries():
        info = country.info()
        languages = info.get("languages") or []
        currencies = info.get("currencies") or []
        population = info.get("population") or 0
        rows.append((country.name(), list(languages), list(currencies), int(population)))
    return rows


def country_name(name: str) -> tuple[str, str]:
    """(subject, the name as the prompt writes it) for a source country name."""
    subject = CAPITALISED_ARTICLE.get(name, RENAMED_COUNTRIES.get(name, name))
    return subject, f"the {subject}" if subject in TAKES_ARTICLE else subject


def names_the_country(answer: str, country: str) -> bool:
    """Whether the answer's first two letters start a word of the country's name."""
    start = answer[:2].casefold()
    return any(word.casefold().startswith(start) for word in country.split())


def country_relation(rows: list[Row], relation: str) -> list[tuple[str, str, str]]:
    """(subject, prompt name, answer) of the ``language`` or ``currency`` relation.

    Args:
        rows: The source rows from :func:`load_source`.
        relation: ``language`` or ``currency``.
    """
    names = LANGUAGE_NAMES if relation == "language" else CURRENCY_NAMES
    chosen: dict[str, list[tuple[int, str, str, str]]] = {}
    for name, languages, currencies, population in rows:
        codes = languages if relation == "language" else currencies
        if name in NOT_UN_MEMBERS or len(codes) != 1 or codes[0] not in names:
            continue
        subject, written = country_name(name)
        if subject in COUNTRY_EXCLUDED:
            continue
        answer = names[codes[0]]
        if relation == "language" and (
            subject in LANGUAGE_EXCLUDED or names_the_country(answer, subject)
        ):
            continue
        chosen.setdefault(answer, []).append((-population, subject, written, answer))
    kept = []
    for options in chosen.values():
        kept += [(s, w, a) for _p, s, w, a in sorted(options)[:PER_ANSWER]]
    return kept


def check_tables(rows: list[Row]) -> None:
    """Fail if an exclusion table names a country the source does not have."""
    names = {country_name(name)[0] for name, *_ in rows}
    stale = sorted(name for name in {*LANGUAGE_EXCLUDED, *COUNTRY_EXCLUDED} if name not in names)
    if stale:
        raise SystemExit(f"make_{NAME}: the tables name countries the source lacks: {stale}")


def build_items(rows: list[Row]) -> list[Item]:
    """Every item, in the file's order.

    Args:
        rows: The source rows from :func:`load_source`.
    """
    triples: list[tuple[str, str, str, str]] = []  # (relation, subject, written, answer)
    for relation, table in HAND_TABLES.items():
        triples += [(relation, subject, subject, answer) for subject, answer in table.items()]
    for relation in ("language", "currency"):
        triples += [(relation, *triple) for triple in country_relation(rows, relation)]
    by_id: dict[str, Item] = {}
    for relation, subject, written, answer in triples:
        item_id = f"{NAME}-{relation}-{slug(subject)}"
        if item_id in by_id:
            raise SystemExit(f"make_{NAME}: two items {item_id!r}")
        prompt = TEMPLATES[relation].format(subject=written)
        by_id[item_id] = item(item_id, prompt, f" {answer}", subject)
    return [by_id[item_id] for item_id in stable_order(by_id, NAME)]


def generate() -> str:
    """Load the source and return the suite's JSONL text.

    Raises:
        SystemExit: When the source is stale or the suite breaks a rule.
    """
    warn_stale_source(f"make_{NAME}")
    rows = load_source()
    check_tables(rows)
    return finish(NAME, build_items(rows), MIN_ITEMS)


if __name__ == "__main__":
    run(NAME, generate, __doc__)
