"""bench/text.py reads the vendored public sets; bench/report.py renders its section."""

from __future__ import annotations

from typing import Any

from bench import report, text


def test_the_vendored_lingua_sets_are_read() -> None:
    sets = text._lingua_sets(3)
    assert set(sets) == {"single words", "word pairs", "sentences"}
    languages = {truth for truth, _ in sets["sentences"]}
    assert len(languages) == 75
    assert "no" in languages and "nb" not in languages
    assert all(len(rows) == 75 * 3 for rows in sets.values())
    assert all(t.strip() for rows in sets.values() for _, t in rows)


def test_the_vader_tweets_are_read_with_their_ratings() -> None:
    tweets = text._vader_tweets()
    assert len(tweets) == 4200
    assert all(-4 <= rating <= 4 and tweet for rating, tweet in tweets)


def _shares(right: float, wrong: float) -> dict[str, Any]:
    row = {"n": 10, "right": right, "wrong": wrong, "null": round(1 - right - wrong, 3)}
    row["codes_not_iso_639_1"] = 0
    return {**row, "all_languages": dict(row)}


def test_the_report_section_and_its_targets() -> None:
    service = {
        "single words": _shares(0.5, 0.2),
        "word pairs": _shares(0.84, 0.1),
        "sentences": _shares(0.97, 0.03),
        "cpu_ms_a_text": 1.0,
    }
    result = {
        "language": {
            "languages": 75,
            "languages_answered": 72,
            "lines_per_language": 200,
            "service": service,
            "py3langid as it comes": service,
            "other_language_texts_given_sentiment": 0.02,
            "debian word lists": {"word_lists": 0},
        },
        "sentiment": {
            "vader_tweets": {"n": 4200, "service_r": 0.84, "service_withheld": 3},
            "n": 30,
            "service_label_right": 0.8,
            "service_withheld": 0.0,
            "plain_vader_label_right": 0.8,
        },
        "ms_per_text": {"tweet": 0.7},
        "memory": {"rss_mb": 95.0, "peak_mb": 100.0},
    }
    result["sentiment"]["vader_tweets"]["plain_vader_r"] = 0.87
    lines: list[str] = []
    targets: list[tuple[str, str, bool]] = []
    report._text(result, lines.append, targets)
    page = "\n".join(lines)
    assert "| py3langid as it comes |" in page and "RSS 95.0 MB" in page
    verdicts = {name: ok for name, _, ok in targets}
    assert verdicts["word pairs right >= 83 %"]
    assert not verdicts["single words answered with a wrong language <= 15 %"]
    assert not verdicts["sentiment on VADER's tweets, r >= 0.85"]
