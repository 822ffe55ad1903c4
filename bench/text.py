"""Text analysis: how often its answers are right, and what a text costs, on public sets.

Measured through ``worker.text.analysis.analyze_text`` only, so the same program
measures an older tree too (``PYTHONPATH=<old tree> python -m bench.text``), each
figure beside the libraries a team would pick instead, in the same run.

- Language: the lingua project's test data (``bench/data/public/lingua``, Apache-2.0,
  see its SOURCES.md): single words, word pairs and sentences, 200 lines of each in
  75 languages (the first ``--lines`` of each file). Right, wrong and null (no
  answer) shares; a wrong code is worse than a null. The headline is over the
  languages the service answers (``worker.text.languages``; lingua's ``nb`` is the
  service's ``no``); beside it, all 75. Alternatives: py3langid as it comes (its
  labels as they are), py3langid restricted to the same languages with
  ``set_languages`` (no threshold), and lingua in low-accuracy mode restricted to
  them when ``lingua-language-detector`` is importable (it is not a dependency).
  Also Debian's word lists (``/usr/share/dict``, where installed, never vendored),
  150 words a language drawn with a fixed seed and pairs of them.
- Sentiment: VADER's 4,200 tweets with the mean of 20 people's ratings
  (``bench/data/public/vader``, MIT): Pearson's r of the service's score (0 where
  it gives none) and of plain VADER's compound with the ratings; and ``TWEETS``
  below, written here, with the sign a reader gives them.
- Keywords: no public keyphrase set is shipped in a package this machine can
  install, so no F1@10; the keyword rules are checked by tests.
- Time: the median CPU milliseconds of ``analyze_text`` a text, per kind of text
  (CPU time, so a busy machine colours it less than wall time).
- Memory: a fresh process that imports ``worker.tasks``, runs a pool process's
  warm-up and analyses 300 texts; its RSS and high-water mark (``VmHWM``).

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


DATA = Path(__file__).parent / "data" / "public"
LINGUA = DATA / "lingua"
LINGUA_KINDS = {
    "single words": "single-words",
    "word pairs": "word-pairs",
    "sentences": "sentences",
}
# lingua's code -> the service's, where the service answers the language under another.
SAME_LANGUAGE = {"nb": "no"}


def _lingua_sets(lines: int) -> dict[str, list[tuple[str, str]]]:
    """(truth, text) of each kind of lingua's test data, ``lines`` a language."""
    sets: dict[str, list[tuple[str, str]]] = {}
    for kind, folder in LINGUA_KINDS.items():
        rows = []
        for path in sorted((LINGUA / folder).glob("*.txt")):
            truth = SAME_LANGUAGE.get(path.stem, path.stem)
            texts = [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
            rows += [(truth, text) for text in texts[:lines]]
        sets[kind] = rows
    return sets


def _alternatives(answered: set[str]) -> dict[str, Any]:
    """The language identifiers a team would pick instead: name -> text -> code or None."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from worker.text import languages

    plain = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    restricted = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    restricted.set_languages(
        [label for label in languages.ANSWERED if label in restricted.nb_classes]
    )

    def restricted_code(text: str) -> str | None:
        return languages.ANSWERED.get(str(restricted.classify(text)[0]))

    found: dict[str, Any] = {
        "py3langid as it comes": lambda text: str(plain.classify(text)[0]),
        "py3langid restricted (set_languages)": restricted_code,
    }
    try:
        from lingua import Language, LanguageDetectorBuilder
    except ImportError:
        return found
    kept = [
        lang
        for lang in Language.all()
        if SAME_LANGUAGE.get(lang.iso_code_639_1.name.lower(), lang.iso_code_639_1.name.lower())
        in answered
    ]
    detector = (
        LanguageDetectorBuilder.from_languages(*kept)
        .with_low_accuracy_mode()
        .with_preloaded_language_models()
        .build()
    )

    def lingua_code(text: str) -> str | None:
        found_language = detector.detect_language_of(text)
        if found_language is None:
            return None
        code = found_language.iso_code_639_1.name.lower()
        return SAME_LANGUAGE.get(code, code)

    found["lingua low accuracy (restricted)"] = lingua_code
    return found


def language(quick: bool = False) -> dict[str, Any]:
    from worker.text import languages
    from worker.text.analysis import analyze_text

    sentiment_given: dict[str, int] = {}

    def service(text: str) -> str | None:
        report = analyze_text(text)
        if report["sentiment"] is not None:
            sentiment_given[text] = 1
        language = report["language"]
        return None if language is None else str(language["code"])

    answered = set(languages.ANSWERED.values())
    sets = _lingua_sets(30 if quick else 200)
    result: dict[str, Any] = {
        "languages": len({truth for truth, _ in sets["sentences"]}),
        "languages_answered": len({truth for truth, _ in sets["sentences"] if truth in answered}),
        "lines_per_language": 30 if quick else 200,
    }
    identifiers = {"service": service, **_alternatives(answered)}
    for name, identify in identifiers.items():
        start = time.process_time()
        rows: dict[str, Any] = {}
        for kind, texts in sets.items():
            answers = [(truth, identify(text)) for truth, text in texts]
            rows[kind] = _shares([a for a in answers if a[0] in answered])
            rows[kind]["all_languages"] = _shares(answers)
        rows["cpu_ms_a_text"] = round(
            (time.process_time() - start) * 1000 / sum(len(t) for t in sets.values()), 3
        )
        result[name] = rows
        if name == "service":
            # VADER reads English only: how often a text in another language got a score.
            other = [t for kind in sets.values() for truth, t in kind if truth != "en"]
            result["other_language_texts_given_sentiment"] = round(
                sum(1 for t in other if t in sentiment_given) / len(other), 4
            )
    result["debian word lists"] = _word_lists(service, quick)
    return result


def _word_lists(code: Any, quick: bool) -> dict[str, Any]:
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
    return {"word_lists": lists, "single words": _shares(words), "word pairs": _shares(pairs)}


def _vader_tweets() -> list[tuple[float, str]]:
    rows = []
    path = DATA / "vader" / "tweets_GroundTruth.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) >= 3:
            rows.append((float(fields[1]), fields[2].strip()))
    return rows


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
    rated = _vader_tweets()
    human, ours, theirs = [], [], []
    missing = 0
    for rating, text in rated:
        got = analyze_text(text)["sentiment"]
        missing += got is None
        human.append(rating)
        ours.append(0.0 if got is None else float(got["score"]))
        theirs.append(float(vader.polarity_scores(text)["compound"]))
    return {
        "vader_tweets": {
            "n": len(rated),
            "service_r": round(statistics.correlation(human, ours), 4),
            "service_withheld": missing,
            "plain_vader_r": round(statistics.correlation(human, theirs), 4),
        },
        "n": n,
        "service_label_right": round(service / n, 3),
        "service_withheld": round(withheld / n, 3),
        "plain_vader_label_right": round(plain / n, 3),
    }


MEMORY_CHILD = """
import sys
sys.path.insert(0, {root!r})
import worker.tasks
from worker.text.analysis import analyze_text
worker.tasks._prepare_process()
for text in {texts!r}:
    analyze_text(text)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0]))
"""


def memory() -> dict[str, float]:
    """RSS and high-water mark of a fresh process set up as a worker pool process is,
    after 300 texts (tweets, lingua sentences of 10 languages, single words)."""
    import subprocess
    import sys

    import worker

    root = Path(worker.__file__).resolve().parents[1]
    texts = [text for _, text in _vader_tweets()[:200]]
    sets = _lingua_sets(10)
    texts += [t for _, t in sets["sentences"][:50]] + [t for _, t in sets["single words"][:50]]
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD.format(root=str(root), texts=texts)],
        capture_output=True,
        text=True,
        check=True,
    )
    rss, peak = (int(v) for v in out.stdout.split()[-2:])
    return {"rss_mb": round(rss / 1024, 1), "peak_mb": round(peak / 1024, 1)}


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
    return {
        "language": language(quick),
        "sentiment": sentiment(),
        "ms_per_text": timing(quick),
        "memory": memory(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
