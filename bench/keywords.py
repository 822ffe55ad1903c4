"""Keyword extraction against human keyphrases: F1@10 of the service beside plain YAKE.

The keyphrase benchmarks (Inspec, SemEval2017 and 500N-KPCrowd in English, WikiNews in
French, 110-PT-BN-KP in Portuguese) are collected in github.com/LIAAD/KeywordExtractor-
Datasets, which states no licence for redistribution: they are not vendored. Unzip them
into a folder and name it:

    .venv/bin/python -m bench.keywords --data /path/to/keyphrase-data [--docs 200]

(one folder per set, each holding ``docsutf8/*.txt`` and ``keys/*.key`` somewhere
below it). Both extractors are given the set's language, so language identification
plays no part; a keyphrase counts when it equals a gold one after lowercasing. CPU time
per document is measured for each, in interleaved order.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from worker.text.analysis import MAX_KEYWORDS, _import_yake, _keywords, yake_language

SETS = {
    "Inspec": "en",
    "SemEval2017": "en",
    "500N-KPCrowd-v1.1": "en",
    "WikiNews": "fr",
    "110-PT-BN-KP": "pt",
}


@dataclass
class Score:
    """F1@10 summed over documents, and the CPU time spent."""

    f1: float = 0.0
    docs: int = 0
    cpu: float = 0.0
    lengths: list[int] = field(default_factory=list)

    def add(self, found: list[str], gold: set[str], cpu: float) -> None:
        found = [phrase.casefold() for phrase in found[:MAX_KEYWORDS]]
        hits = sum(1 for phrase in found if phrase in gold)
        precision = hits / len(found) if found else 0.0
        recall = hits / len(gold) if gold else 0.0
        both = precision + recall
        self.f1 += 2 * precision * recall / both if both else 0.0
        self.docs += 1
        self.cpu += cpu
        self.lengths.extend(len(phrase) for phrase in found)


def documents(folder: Path, limit: int) -> list[tuple[str, set[str]]]:
    """(text, gold keyphrases) of the first ``limit`` documents, by file name."""
    texts = sorted(folder.rglob("docsutf8/*.txt"))[:limit]
    found = []
    for text_path in texts:
        key_path = text_path.parent.parent / "keys" / (text_path.stem + ".key")
        if not key_path.is_file():
            continue
        gold = {
            line.strip().casefold()
            for line in key_path.read_text(encoding="utf-8", errors="replace").splitlines()
            if line.strip()
        }
        found.append((text_path.read_text(encoding="utf-8", errors="replace"), gold))
    return found


def plain_yake(text: str, code: str) -> list[str]:
    """YAKE as its README shows it (its defaults: up to 3-word phrases), top 10."""
    extractor = _import_yake().KeywordExtractor(lan=yake_language(code), top=MAX_KEYWORDS)
    return [str(phrase) for phrase, _ in extractor.extract_keywords(text)]


def timed(extract, text: str, code: str) -> tuple[list[str], float]:  # type: ignore[no-untyped-def]
    started = time.process_time()
    found = extract(text, code)
    return found, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the unzipped sets' folder")
    parser.add_argument("--docs", type=int, default=200, help="documents a set, at most")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no folder {args.data}: see this module's docstring for the data")
    print(
        "| set | language | docs | service F1@10 | plain YAKE F1@10 "
        "| service CPU/doc | YAKE CPU/doc |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, code in SETS.items():
        folder = args.data / name
        if not folder.is_dir():
            print(f"| {name} | {code} | missing | | | | |")
            continue
        service, yake = Score(), Score()
        for index, (text, gold) in enumerate(documents(folder, args.docs)):
            # Interleaved: which runs first alternates, so warm caches favour neither.
            order = [(service, _keywords), (yake, plain_yake)]
            for score, extract in order if index % 2 == 0 else order[::-1]:
                found, cpu = timed(extract, text, code)
                score.add(found, gold, cpu)
        print(
            f"| {name} | {code} | {service.docs} | {100 * service.f1 / service.docs:.1f} "
            f"| {100 * yake.f1 / yake.docs:.1f} | {1000 * service.cpu / service.docs:.1f} ms "
            f"| {1000 * yake.cpu / yake.docs:.1f} ms |",
            flush=True,
        )


if __name__ == "__main__":
    main()
