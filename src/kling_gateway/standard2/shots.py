"""Multi-shot prompts (§3.2): ``shot n, m, words; shot n, m, words;`` — n = 1..6, m ≥ 1 s,
Σm = the duration, words ≤ 512 characters."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SHOTS = 6
MAX_SHOT_WORDS = 512
_SHOT = re.compile(r"^\s*shot\s+(\d+)\s*,\s*(\d+(?:\.\d+)?)\s*s?\s*,\s*(.*?)\s*$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Shot:
    index: int
    seconds: float
    words: str


def parse_shots(prompt: str) -> list[Shot] | None:
    """The shots of a multi-shot prompt, or None when the prompt is not written that way.

    Raises ValueError naming the broken rule when it is, but wrongly."""
    parts = [p for p in prompt.split(";") if p.strip()]
    if not parts or not _SHOT.match(parts[0]):
        return None
    shots = []
    for i, part in enumerate(parts, start=1):
        m = _SHOT.match(part)
        if m is None:
            raise ValueError(f"shot {i}: write it as 'shot {i}, <seconds>, <words>;'")
        index, seconds, words = int(m.group(1)), float(m.group(2)), m.group(3)
        if index != i:
            raise ValueError(f"shot {i}: shots are numbered 1, 2, … in order (got {index})")
        if seconds < 1:
            raise ValueError(f"shot {i}: a shot lasts at least 1 s")
        if len(words) > MAX_SHOT_WORDS:
            raise ValueError(f"shot {i}: at most {MAX_SHOT_WORDS} characters of words")
        shots.append(Shot(index, seconds, words))
    if len(shots) > MAX_SHOTS:
        raise ValueError(f"at most {MAX_SHOTS} shots")
    return shots


def check_shot_total(shots: list[Shot], duration: int) -> None:
    total = sum(s.seconds for s in shots)
    if abs(total - duration) > 1e-6:
        raise ValueError(f"the shot durations add up to {total:g} s, not the duration {duration} s")
