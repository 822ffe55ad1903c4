"""The languages text analysis answers with: one table of the language model's labels.

py3langid's model has 142 labels (140 distinct: ``sr`` and ``uz`` appear twice).
``docs/API.md`` promises ISO 639-1 codes, so every label is either answered as a
two-letter code or never answered; the model is restricted to the answered ones
(their probabilities renormalised, which is what py3langid's own
``set_languages`` does), and labels that are variants of one language have their
probabilities added under its code.

How to add one: a label the model gains is answered only once it is in
``ANSWERED`` (its ISO 639-1 code) or left out in ``LEFT_OUT`` with the reason;
``tests/unit/worker/text/test_languages.py`` fails until every label is in one.

Short texts: a guess is answered only with enough evidence, ``min_confidence``
by the text's length in letters (chosen by measurement on lingua's test data,
``python -m bench.text``: single words answered wrong at most 15 %, word pairs
right at least 83 %), and a text under ``SHORT_TEXT_LETTERS`` letters is never
answered a language of ``NOT_FOR_SHORT_TEXT`` (regional languages whose few words
are a larger neighbour's). Short
Chinese and Japanese texts are answered by their script (``by_script``): kana is
Japanese, Han alone is Chinese or Japanese, told by the forms only one of them uses.
"""

from __future__ import annotations

import unicodedata

# The labels that are ISO 639-1 codes already, answered as they are.
_TWO_LETTER_LABELS_TEXT = (
    "af am an ar as az ba be bg bn br bs ca cs cy da de dz el en eo es et eu fa fi "
    "fo fr fy ga gd gl gu ha he hi hr ht hu hy id ig is it ja jv ka kk km kn ko ku "
    "ky la lb lg ln lo lt lv mg mk ml mn mr ms mt my ne nl nn no oc om or pa pl ps "
    "pt qu ro ru rw sa se si sk sl sn so sq sr st sv sw ta te tg th tk tl tr tt ug "
    "uk ur uz vi wa xh yo zh zu"
)
_TWO_LETTER_LABELS = tuple(_TWO_LETTER_LABELS_TEXT.split())

# Model label -> the ISO 639-1 code answered. Labels of one language's variants map to it.
ANSWERED: dict[str, str] = {
    **{code: code for code in _TWO_LETTER_LABELS},
    "ary": "ar",  # Moroccan Arabic
    "arz": "ar",  # Egyptian Arabic
    "uzs": "uz",  # Southern Uzbek (Arabic script)
    "sdh": "ku",  # Southern Kurdish
    "wuu": "zh",  # Wu Chinese, written in Han characters
    "yue": "zh",  # Cantonese, written in Han characters
    "gug": "gn",  # Paraguayan Guaraní
    "fuv": "ff",  # Nigerian Fulfulde
    "kik": "ki",  # Gikuyu
}

# Model labels never answered, and why.
LEFT_OUT: dict[str, str] = {
    "zxx": "'no linguistic content': the answer for such a text is null",
    "vo": "Volapük, a constructed language no user writes; it won single English words",
    "ace": "Acehnese: no ISO 639-1 code",
    "bcl": "Central Bikol: no ISO 639-1 code",
    "crh": "Crimean Tatar: no ISO 639-1 code",
    "ext": "Extremaduran: no ISO 639-1 code",
    "gcf": "Guadeloupean Creole: no ISO 639-1 code",
    "gcr": "Guianese Creole: no ISO 639-1 code",
    "gom": "Goan Konkani: no ISO 639-1 code",
    "grc": "Ancient Greek: no ISO 639-1 code (and no user's text)",
    "guw": "Gun: no ISO 639-1 code",
    "hbo": "Ancient Hebrew: no ISO 639-1 code (and no user's text)",
    "kab": "Kabyle: no ISO 639-1 code",
    "lij": "Ligurian: no ISO 639-1 code",
    "ltg": "Latgalian: no ISO 639-1 code",
    "nso": "Northern Sotho: no ISO 639-1 code",
    "pcm": "Nigerian Pidgin: no ISO 639-1 code",
    "vec": "Venetian: no ISO 639-1 code",
}

# Regional languages whose few words cannot be told from a neighbour with many more
# writers: a short text (under ``SHORT_TEXT_LETTERS`` letters) is not answered with one
# of them; its neighbour, or null, is likelier right. Measured with bench.text on
# lingua's word pairs (which hold none of these languages: what it measures is the
# answers they took from their neighbours): 83.6 -> 84.5 % top answers right.
# A longer text in one of them is answered as before.
SHORT_TEXT_LETTERS = 30
NOT_FOR_SHORT_TEXT: dict[str, str] = {
    "an": "Aragonese: its words are Spanish or Catalan ones",
    "br": "Breton: few writers; short texts were mostly English or French",
    "fo": "Faroese: its words are Icelandic or Danish ones",
    "fy": "West Frisian: its words are Dutch ones",
    "gl": "Galician: its words are Portuguese or Spanish ones",
    "jv": "Javanese: short texts were mostly Indonesian or Malay",
    "lb": "Luxembourgish: its words are German ones",
    "oc": "Occitan: its words are Catalan or French ones",
    "sa": "Sanskrit: a classical language; short texts were mostly Hindi or Marathi",
    "wa": "Walloon: its words are French ones",
}

# (fewest letters, least confidence): a guess on a text of at least that many letters
# is answered from that confidence on. Measured with bench.text (docs/BENCHMARKS.md).
_MIN_CONFIDENCE_BY_LETTERS = ((0, 0.5), (8, 0.2), (12, 0.1), (20, 0.05))


# A single word, however long, needs at least this: long rare words ("unbelievable",
# "Kraftfahrzeug") fell in the bands made for pairs and were answered wrong 16 % of the
# time on Debian's word lists (7.5 % with it; lingua's single words 9.0 -> 6.2 %).
MIN_CONFIDENCE_ONE_WORD = 0.3


def min_confidence(letters: int, words: int = 2) -> float:
    """The least confidence answered for a text of ``letters`` letters in ``words`` words."""
    threshold = 1.0
    for fewest, confidence in _MIN_CONFIDENCE_BY_LETTERS:
        if letters >= fewest:
            threshold = confidence
    return max(threshold, MIN_CONFIDENCE_ONE_WORD) if words == 1 else threshold


# Han characters of the Japanese shinjitai reforms, iteration marks and
# Japanese-made kanji: in a text with no kana they still say Japanese.
_JAPANESE_ONLY_HAN = frozenset(
    "々〆込畑峠働辻枠栃匂籾糀凪榊鰯塀畠円駅売読図済広応変労楽戦鉄県検験桜巻"
)


def by_script(letters: str) -> str | None:
    """What the script of ``letters`` says when it is Chinese or Japanese only, else None.

    ``ja``: kana, or a Han character only Japanese writes; ``han``: Han characters
    only, which Chinese and Japanese share (the model tells them apart); None:
    any other letter (Hangul and the rest are left to the model).
    """
    kana = han = 0
    for char in letters:
        name = unicodedata.name(char, "")
        if name.startswith(("HIRAGANA", "KATAKANA")) or char == "ー":
            kana += 1
        elif name.startswith("CJK") or char in _JAPANESE_ONLY_HAN:
            han += 1
        else:
            return None
    if kana or any(c in _JAPANESE_ONLY_HAN for c in letters):
        return "ja"
    return "han" if han else None
