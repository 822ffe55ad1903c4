"""What the worker keeps out of a pool process's memory, checked in fresh interpreters.

pillow-heif loads only when a HEIF file arrives (``worker.heif``), and yake's networkx
comes without the graph algorithms (``worker.text.analysis._import_yake``) with the same answers.
Each check runs in a child process, since this one may have imported both already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import imagegen
from tests.unit.worker.text.test_analysis import TEXTS

ROOT = Path(__file__).resolve().parents[3]


def _run(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip().splitlines()[-1]


OPEN = """
import sys
from worker.imaging.source import open_source
loaded = ["pillow_heif" in sys.modules]
for path in sys.argv[1:]:
    source = open_source(open(path, "rb").read(), 10**8, 20000, 200)
    source.image.load()
    loaded.append((source.format, source.image.size, "pillow_heif" in sys.modules))
print(loaded)
"""


def test_pillow_heif_loads_with_the_first_heif_file(tmp_path: Path) -> None:
    files = {"jpeg": imagegen.jpeg(), "avif": imagegen.avif(), "heic": imagegen.heic()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    out = _run(OPEN, *(str(tmp_path / name) for name in files))
    assert out == str(
        [
            False,
            ("jpeg", (400, 300), False),
            ("avif", (300, 200), False),
            ("heif", (300, 200), True),
        ]
    )


ANALYZE = """
import json, sys
if sys.argv[1] == "full":
    import networkx  # the whole package, as before the trim
from worker.text.analysis import analyze_text
texts = json.loads(sys.argv[2])
reports = {code: analyze_text(text) for code, text in texts.items()}
algorithms = "networkx.algorithms.shortest_paths" in sys.modules
print(json.dumps({"reports": reports, "algorithms": algorithms}, sort_keys=True))
"""


def test_keywords_are_the_same_without_networkx_algorithms() -> None:
    texts = dict(TEXTS, long=" ".join(TEXTS.values()) * 3)
    trimmed = json.loads(_run(ANALYZE, "trimmed", json.dumps(texts)))
    full = json.loads(_run(ANALYZE, "full", json.dumps(texts)))
    assert not trimmed["algorithms"] and full["algorithms"]
    assert trimmed["reports"] == full["reports"]
    assert all(report["keywords"] for report in trimmed["reports"].values())
