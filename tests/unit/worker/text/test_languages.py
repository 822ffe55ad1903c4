"""The table of languages answered: every model label answered as ISO 639-1 or left out."""

from __future__ import annotations

import re

from worker.text import languages
from worker.text.analysis import _language_identifier


def test_every_model_label_is_answered_or_left_out_with_a_reason() -> None:
    labels = set(_language_identifier().nb_classes)
    assert labels == set(languages.ANSWERED) | set(languages.LEFT_OUT)
    assert not set(languages.ANSWERED) & set(languages.LEFT_OUT)
    assert all(reason for reason in languages.LEFT_OUT.values())


def test_answered_codes_are_two_letters() -> None:
    assert all(re.fullmatch("[a-z]{2}", code) for code in languages.ANSWERED.values())


def test_confidence_needed_falls_with_length() -> None:
    needed = [languages.min_confidence(n) for n in range(0, 200)]
    assert needed == sorted(needed, reverse=True)
    assert needed[-1] <= 0.1


def test_script_of_chinese_and_japanese() -> None:
    assert languages.by_script("ありがとう") == "ja"
    assert languages.by_script("東京駅") == "ja"
    assert languages.by_script("人々") == "ja"
    assert languages.by_script("北京") == "han"
    assert languages.by_script("Tokyo") is None
    assert languages.by_script("서울") is None


def test_languages_kept_from_short_texts_are_answered_ones_with_reasons() -> None:
    answered = set(languages.ANSWERED.values())
    assert set(languages.NOT_FOR_SHORT_TEXT) <= answered
    assert all(reason for reason in languages.NOT_FOR_SHORT_TEXT.values())
    # Never English or another language a short text is most often written in.
    assert not {"en", "es", "pt", "fr", "de"} & set(languages.NOT_FOR_SHORT_TEXT)
