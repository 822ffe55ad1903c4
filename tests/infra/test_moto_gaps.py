"""tests/infra/moto_gaps.py: written for the moto constraints.txt pins, against moto's source as it was."""

from __future__ import annotations

import importlib.metadata
import re

from tests.infra import moto_gaps
from tests.infra.terraform import REPO


def test_moto_gaps_are_written_for_the_pinned_moto() -> None:
    pinned = re.search(r"^moto==(\S+)$", (REPO / "constraints.txt").read_text(), re.MULTILINE)
    assert pinned is not None, "moto is not pinned in constraints.txt"
    assert pinned.group(1) == moto_gaps.MOTO_VERSION == importlib.metadata.version("moto"), (
        "moto changed: review every patch in tests/infra/moto_gaps.py (a gap may be filled "
        "upstream, or a patched member changed), then update MOTO_VERSION"
    )


def test_the_patched_moto_source_is_unchanged() -> None:
    current = moto_gaps.source_digest()
    assert current == moto_gaps.SOURCE_SHA256, (
        "moto's source under tests/infra/moto_gaps.py's patches changed: review "
        f"{', '.join(moto_gaps.PATCHED_MEMBERS)}, then set SOURCE_SHA256 = {current!r}"
    )
