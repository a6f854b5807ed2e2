"""Generate the built-in ``translation`` suite: English -> French single words.

Prompt ``"English: dog\\nFrench:"``, target ``" chien"``, subject ``"dog"``. The word
table below was authored for layertracer and checked by hand (CC0)::

    python scripts/make_translation.py           # rewrite .../data/translation.jsonl
    python scripts/make_translation.py --check   # exit 1 if the file differs

Rules for the table:

- common nouns, adjectives, numbers and verbs whose usual French translation is one
  word, with no equally common rival (no "room": chambre, pièce or salle; no "key":
  clé or clef; no "owl": hibou or chouette);
- nouns without their article; adjectives in the masculine singular; verbs in the
  infinitive;
- no word whose French is spelt the same or nearly so (table, lion, café, éléphant),
  as the answer could be copied from the prompt;
- no ligatures (œuf, cœur, sœur), which tokenizers and typists write two ways;
- no French word that starts with an accented letter (île, école, été): byte-level
  tokenizers split its first byte off, so the target token would be a byte fragment
  shared by all such answers;
- no English word that is as often another part of speech with another translation
  ("open": ouvrir or ouvert; "drink": boire or boisson; "spring": printemps or ressort).

The format suits few-shot prompts: a demonstration is ``"English: cat\\nFrench: chat\\n"``.
Items are sorted by English word.
"""

from __future__ import annotations

from suite_common import Item, finish, item, run

NAME = "translation"
MIN_ITEMS = 120
TEMPLATE = "English: {word}\nFrench:"

WORDS = {
    # animals
    "dog": "chien", "cat": "chat", "horse": "cheval", "cow": "vache", "pig": "cochon",
    "sheep": "mouton", "bird": "oiseau", "fish": "poisson", "mouse": "souris",
    "rabbit": "lapin", "bear": "ours", "wolf": "loup", "fox": "renard", "duck": "canard",
    "frog": "grenouille", "bee": "abeille", "butterfly": "papillon", "monkey": "singe",
    "whale": "baleine", "spider": "araignée", "goat": "chèvre",     "turtle": "tortue",
    # food and drink
    "bread": "pain", "cheese": "fromage", "milk": "lait", "water": "eau", "wine": "vin",
    "apple": "pomme", "butter": "beurre", "sugar": "sucre", "salt": "sel",
    "meat": "viande", "beer": "bière", "rice": "riz", "cake": "gâteau",
    "strawberry": "fraise", "cherry": "cerise", "pear": "poire", "lemon": "citron",
    "mushroom": "champignon", "honey": "miel", "garlic": "ail",
    # the body
    "head": "tête", "hand": "main", "foot": "pied", "mouth": "bouche", "nose": "nez",
    "ear": "oreille", "arm": "bras", "leg": "jambe", "tooth": "dent", "blood": "sang",
    "skin": "peau", "neck": "cou", "knee": "genou", "finger": "doigt",
    # nature
    "sun": "soleil", "moon": "lune", "sky": "ciel", "sea": "mer",
    "mountain": "montagne", "tree": "arbre", "flower": "fleur", "rain": "pluie",
    "snow": "neige", "wind": "vent", "fire": "feu", "stone": "pierre", "sand": "sable",
    "cloud": "nuage", "grass": "herbe", "leaf": "feuille", "ice": "glace",
    # things
    "house": "maison", "door": "porte", "window": "fenêtre", "bed": "lit",
    "chair": "chaise", "book": "livre", "pen": "stylo", "knife": "couteau",
    "fork": "fourchette", "cup": "tasse", "bottle": "bouteille", "clock": "horloge",
    "box": "boîte", "wall": "mur", "roof": "toit",
    "shoe": "chaussure", "hat": "chapeau", "shirt": "chemise", "dress": "robe",
    "money": "argent", "newspaper": "journal",
    # people
    "man": "homme", "woman": "femme", "child": "enfant", "boy": "garçon", "girl": "fille",
    "mother": "mère", "father": "père", "brother": "frère", "friend": "ami", "king": "roi",
    "queen": "reine", "baker": "boulanger",
    # places
    "city": "ville", "street": "rue", "bridge": "pont", "garden": "jardin",
    "castle": "château", "beach": "plage",
    "world": "monde", "country": "pays", "library": "bibliothèque", "kitchen": "cuisine",
    # time
    "day": "jour", "night": "nuit", "morning": "matin", "evening": "soir",
    "week": "semaine", "month": "mois", "tomorrow": "demain", "yesterday": "hier",
    "winter": "hiver",     # adjectives
    "red": "rouge", "blue": "bleu", "green": "vert", "black": "noir", "white": "blanc",
    "yellow": "jaune", "small": "petit", "hot": "chaud", "cold": "froid", "old": "vieux",
    "good": "bon", "bad": "mauvais", "beautiful": "beau", "happy": "heureux",
    "sad": "triste", "slow": "lent", "strong": "fort", "heavy": "lourd", "easy": "facile",
    "young": "jeune", "short": "court", "full": "plein", "empty": "vide", "dry": "sec",
    "wet": "mouillé", "expensive": "cher", "dirty": "sale",
    "true": "vrai",
    # numbers
    "one": "un", "two": "deux", "three": "trois", "four": "quatre", "five": "cinq",
    "seven": "sept", "eight": "huit", "nine": "neuf", "ten": "dix", "hundred": "cent",
    # verbs
    "eat": "manger", "sing": "chanter",
    "read": "lire", "swim": "nager", "run": "courir", "buy": "acheter", "sell": "vendre",
    "come": "venir", "see": "voir",
    "give": "donner",
}  # fmt: skip


def build_items() -> list[Item]:
    """One item per word, sorted by the English word."""
    return [
        item(f"{NAME}-{word}", TEMPLATE.format(word=word), f" {french}", word)
        for word, french in sorted(WORDS.items())
    ]


def generate() -> str:
    """The suite's JSONL text."""
    return finish(NAME, build_items(), MIN_ITEMS)


if __name__ == "__main__":
    run(NAME, generate, __doc__)
