"""``python -m bench``: run every benchmark and write docs/BENCHMARKS.md (see run_all)."""

from __future__ import annotations

from bench.run_all import main

main()
