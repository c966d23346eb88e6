"""Deterministic randomness: the same request always renders the same media."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

# delivery details that must not change the picture
_IGNORED = frozenset({"callback_url", "external_task_id", "watermark_info"})


def request_seed(family: str, request: dict[str, Any]) -> int:
    """sha256 of the family and the canonical JSON of the request, as a 64-bit int."""
    body = {k: v for k, v in request.items() if k not in _IGNORED}
    text = family + "\n" + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def rng_for(seed: int, *salt: int | str) -> np.random.Generator:
    """An independent generator for one purpose (palette, index n, audio...) of a seeded job."""
    parts = [seed] + [int.from_bytes(hashlib.sha256(str(s).encode()).digest()[:4], "big") for s in salt]
    return np.random.default_rng(parts)
