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


KEEPER = """
import ctypes, json, sys
from worker.heap import HeapKeeper, resident_bytes
MB = 1024 * 1024
keeper = HeapKeeper()
keeper.started(int(sys.argv[1]) * MB)
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
def job(mb, size=MB):
    # A job's working set: buffers touched, then freed; the last one (allocated last,
    # so on top of the heap) outlives the job, as a long-lived object would.
    blocks = [libc.malloc(size) for _ in range(mb * MB // size)]
    for block in blocks:
        libc.memset(block, 1, size)
    for block in blocks[:-1]:
        libc.free(block)
    grown = (resident_bytes() - keeper.baseline) // MB
    return grown, keeper.after_job(), (resident_bytes() - keeper.baseline) // MB
runs = [job(40), job(40), job(200), job(72, 24 * MB)]
# Before a decode that may need buffers larger than the heap serves (32 MB), the kept
# heap is given back first; a usual job's decode keeps it.
small_decode, large_decode = keeper.make_room(24 * MB), keeper.make_room(48 * MB)
room = [small_decode, large_decode, (resident_bytes() - keeper.baseline) // MB]
print(json.dumps([*runs, room]))
"""


def test_a_pool_process_keeps_a_usual_jobs_heap_and_gives_back_a_large_ones() -> None:
    # Allowed 100 MB: a 40 MB job's freed heap stays for the next (no trim, and no new
    # pages for it); a 200 MB one leaves the process over its allowance, so its free
    # pages are given back. Buffers of 24 MB come from the heap too (glibc would map
    # each on its own and unmap it at free: its pages faulted in again every job).
    runs = json.loads(_run(KEEPER, "100"))
    (small, small_trim, small_after), (again, again_trim, _) = runs[0], runs[1]
    (large, large_trim, large_after), (blocks, blocks_trim, blocks_after) = runs[2], runs[3]
    assert small >= 35 and not small_trim and small_after >= 35
    assert again < 60 and not again_trim  # the second job reused the first one's pages
    assert large >= 180 and large_trim and large_after < 40
    assert blocks >= 65 and not blocks_trim and blocks_after >= 65
    small_decode, large_decode, after_room = runs[4]
    assert not small_decode and large_decode and after_room < 40
