"""Text analysis: how often its answers are right, and what a text costs, on small sets.

Measured through ``worker.text.analysis.analyze_text`` only, so the same program
measures an older tree too (``PYTHONPATH=<old tree> python -m bench.text``).

- Language, single words and word pairs: Debian's word lists (``wamerican``,
  ``wngerman``, ``wfrench``, ``wspanish``, ``witalian``, ``wportuguese``,
  ``wdutch``, ``wswedish``, ``wpolish``, ``wdanish``, ``wnorwegian``,
  ``wbulgarian``, ``wukrainian``; read from ``/usr/share/dict`` where installed,
  never vendored), 150 words a language drawn with a fixed seed, and pairs of
  them. Dictionary words are rarer than what users type, so these figures are
  harsher than a corpus of real short texts. Right, wrong and null (no answer)
  shares of all; a wrong code is worse than a null.
- Language, sentences: ``SENTENCES`` below, written for this benchmark (no public
  labelled set is shipped in a package this machine can install).
- Sentiment: ``TWEETS`` below, short social-media texts with the sign a reader
  gives them, written for this benchmark: the share whose label matches, for the
  service and for plain VADER on the same texts.
- Time: the median CPU milliseconds of ``analyze_text`` a text, per kind of text
  (CPU time, so a busy machine colours it less than wall time).

Run: ``.venv/bin/python -m bench.text [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

WORD_LISTS = {
    "en": "american-english",
    "de": "ngerman",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "sv": "swedish",
    "pl": "polish",
    "da": "danish",
    "no": "bokmaal",
    "bg": "bulgarian",
    "uk": "ukrainian",
}
DICT = Path("/usr/share/dict")

SENTENCES = {
    "en": [
        "The train to the airport leaves every twenty minutes.",
        "We had dinner at a small place near the harbour.",
        "Could you send me the photos from yesterday?",
    ],
    "de": [
        "Der Zug zum Flughafen fährt alle zwanzig Minuten.",
        "Wir haben in einem kleinen Lokal am Hafen gegessen.",
        "Kannst du mir die Fotos von gestern schicken?",
    ],
    "fr": [
        "Le train pour l'aéroport part toutes les vingt minutes.",
        "Nous avons dîné dans un petit restaurant près du port.",
        "Peux-tu m'envoyer les photos d'hier ?",
    ],
    "es": [
        "El tren al aeropuerto sale cada veinte minutos.",
        "Cenamos en un pequeño restaurante cerca del puerto.",
        "¿Me puedes enviar las fotos de ayer?",
    ],
    "it": [
        "Il treno per l'aeroporto parte ogni venti minuti.",
        "Abbiamo cenato in un piccolo locale vicino al porto.",
        "Mi puoi mandare le foto di ieri?",
    ],
    "pt": [
        "O comboio para o aeroporto parte a cada vinte minutos.",
        "Jantámos num pequeno restaurante perto do porto.",
        "Podes enviar-me as fotografias de ontem?",
    ],
    "nl": [
        "De trein naar het vliegveld vertrekt elke twintig minuten.",
        "We hebben gegeten in een klein restaurant bij de haven.",
        "Kun je me de foto's van gisteren sturen?",
    ],
    "cs": [
        "Vlak na letiště jezdí každých dvacet minut.",
        "Večeřeli jsme v malé restauraci u přístavu.",
        "Můžeš mi poslat ty fotky ze včerejška?",
    ],
    "pl": [
        "Pociąg na lotnisko odjeżdża co dwadzieścia minut.",
        "Zjedliśmy kolację w małej restauracji przy porcie.",
        "Możesz mi wysłać zdjęcia z wczoraj?",
    ],
    "ru": [
        "Поезд в аэропорт отходит каждые двадцать минут.",
        "Мы поужинали в маленьком ресторане у гавани.",
        "Можешь прислать мне вчерашние фотографии?",
    ],
    "tr": [
        "Havalimanı treni her yirmi dakikada bir kalkıyor.",
        "Limanın yakınındaki küçük bir lokantada yemek yedik.",
        "Dünkü fotoğrafları bana gönderebilir misin?",
    ],
    "ja": [
        "空港行きの電車は二十分ごとに出ます。",
        "港の近くの小さな店で夕食を食べました。",
        "昨日の写真を送ってくれますか？",
    ],
    "zh": [
        "去机场的火车每二十分钟一班。",
        "我们在港口附近的一家小饭馆吃了晚饭。",
        "你能把昨天的照片发给我吗？",
    ],
}

# (text, sign a reader gives it: 1 positive, -1 negative, 0 neutral)
TWEETS = [
    ("Can't make it tonight :(", -1),
    ("Missed the bus again :-(", -1),
    ("finally friday :)", 1),
    ("LMAO, AMAZING!", 1),
    ("yes", 1),
    ("Thanks", 1),
    ("😍", 1),
    ("Monday again 😢", -1),
    ("omg so good", 1),
    ("ugh worst service ever", -1),
    ("love this song <3", 1),
    ("not bad at all", 1),
    ("meh", -1),
    ("Flight delayed 3 hours. Great. Just great.", -1),
    ("new phone who dis", 0),
    ("Happy birthday mom!! ❤️", 1),
    ("so tired :/", -1),
    ("lol", 1),
    ("best concert ever!!! 🎉", 1),
    ("I hate waiting in line", -1),
    ("the meeting is at 3pm", 0),
    ("Sunset at the lake with friends. What a wonderful evening!", 1),
    ("My cat knocked my coffee over. Again. Why.", -1),
    ("wow :D", 1),
    ("rain all day ;(", -1),
    ("Got the job!!!", 1),
    ("sad news today", -1),
    ("cool", 1),
    ("Nope. Not doing this again :(", -1),
    ("dinner was ok", 0),
]

TIMED = {
    "single word": ["market", "yes", "Thanks", "北京"],
    "tweet": [t for t, _ in TWEETS[:10]],
    "API example (60 characters)": ["Sunset at the lake with friends. What a wonderful evening!"],
    "paragraph (en, de, fr, ja)": [" ".join(s) for s in SENTENCES.values()][:1]
    + [" ".join(SENTENCES[c]) for c in ("de", "fr", "ja")],
    "article (about 1,500 words)": [
        " ".join(" ".join(s) for s in SENTENCES.values()) * 5,
    ],
}


def _label(score: float) -> int:
    return 1 if score >= 0.05 else -1 if score <= -0.05 else 0


def _shares(answers: list[tuple[str, str | None]]) -> dict[str, float]:
    n = len(answers) or 1
    right = sum(1 for truth, got in answers if got == truth)
    null = sum(1 for _, got in answers if got is None)
    return {
        "n": len(answers),
        "right": round(right / n, 3),
        "wrong": round((len(answers) - right - null) / n, 3),
        "null": round(null / n, 3),
        "codes_not_iso_639_1": sum(1 for _, got in answers if got and len(got) != 2),
    }


def language(quick: bool = False) -> dict[str, Any]:
    from worker.text.analysis import analyze_text

    def code(text: str) -> str | None:
        language = analyze_text(text)["language"]
        return None if language is None else str(language["code"])

    rng = random.Random(26)
    words: list[tuple[str, str | None]] = []
    pairs: list[tuple[str, str | None]] = []
    lists = 0
    for truth, name in WORD_LISTS.items():
        path = DICT / name
        if not path.exists():
            continue
        lists += 1
        vocabulary = [
            w
            for w in (line.strip() for line in path.open(encoding="utf-8", errors="ignore"))
            if w.isalpha() and w[0].islower()
        ]
        drawn = rng.sample(vocabulary, 60 if quick else 150)
        words += [(truth, code(w)) for w in drawn]
        pairs += [(truth, code(f"{a} {b}")) for a, b in zip(drawn[::2], drawn[1::2], strict=False)]
    sentences = [(truth, code(s)) for truth, texts in SENTENCES.items() for s in texts]
    return {
        "word_lists": lists,
        "single words": _shares(words),
        "word pairs": _shares(pairs),
        "sentences": _shares(sentences),
    }


def sentiment() -> dict[str, Any]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from worker.text.analysis import analyze_text

    vader = SentimentIntensityAnalyzer()
    service = plain = withheld = 0
    for text, sign in TWEETS:
        got = analyze_text(text)["sentiment"]
        withheld += got is None
        service += got is not None and _label(got["score"]) == sign
        plain += _label(vader.polarity_scores(text)["compound"]) == sign
    n = len(TWEETS)
    return {
        "n": n,
        "service_label_right": round(service / n, 3),
        "service_withheld": round(withheld / n, 3),
        "plain_vader_label_right": round(plain / n, 3),
    }


def timing(quick: bool = False) -> dict[str, float]:
    from worker.text.analysis import analyze_text, warm_up

    warm_up()
    repeats = 5 if quick else 20
    figures = {}
    for kind, texts in TIMED.items():
        samples = []
        for _ in range(repeats):
            for text in texts:
                start = time.process_time()
                analyze_text(text)
                samples.append((time.process_time() - start) * 1000)
        figures[kind] = round(statistics.median(samples), 2)
    return figures


def run(quick: bool = False) -> dict[str, Any]:
    return {"language": language(quick), "sentiment": sentiment(), "ms_per_text": timing(quick)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
