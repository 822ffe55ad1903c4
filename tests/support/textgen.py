"""Caption texts made in code: mixed directions, bidi controls, marks, long words."""

from __future__ import annotations

import random

HEBREW = "אבגדהוזחטיכלמנסעפצקרשת"
ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789"
# Right-to-left and left-to-right overrides and embeddings, pop, isolates, marks.
BIDI_CONTROLS = "\u202e\u202d\u202b\u202a\u202c\u2066\u2067\u2068\u2069\u200f\u200e"
COMBINING = "\u0301\u0308\u05b4\u05bc\u064b\u0651"


def mixed_direction(length: int = 600, seed: int = 0, spaces: bool = False) -> str:
    """``length`` characters alternating scripts and direction controls in short runs
    (no spaces unless asked: one word wider than any line)."""
    rnd = random.Random(seed)
    scripts = (HEBREW, ARABIC, LATIN)
    out: list[str] = []
    while sum(map(len, out)) < length:
        run = "".join(rnd.choice(rnd.choice(scripts)) for _ in range(rnd.randint(1, 7)))
        if rnd.random() < 0.5:
            run += rnd.choice(COMBINING)
        out.append(rnd.choice(BIDI_CONTROLS) + run)
        if spaces and rnd.random() < 0.3:
            out.append(" ")
    return "".join(out)[:length]
