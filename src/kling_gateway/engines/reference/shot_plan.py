"""Multi-shot plans (``multi_shot``/``shot_type``/``multi_prompt``, spec more §7.1, §8): which
prompt each shot shows and for how many frames. One plan for text2video, image2video and
omni-video, so their cuts fall at the same places for the same request."""

from __future__ import annotations

import math
from typing import Any

MAX_SHOTS = 6
INTELLIGENT_SHOT_S = 5.0  # "intelligence": the gateway cuts about every 5 s


def shot_list(req: dict[str, Any], seconds: float) -> list[tuple[str, float]]:
    """(prompt, seconds) of each shot: ``multi_prompt`` when customised, even cuts for
    ``intelligence``, one shot without ``multi_shot``."""
    prompt = str(req.get("prompt") or "")
    if not req.get("multi_shot"):
        return [(prompt, seconds)]
    if req.get("shot_type") == "customize":
        items = sorted(req.get("multi_prompt") or [], key=lambda p: int(p.get("index") or 0))
        return [(str(p.get("prompt") or ""), float(p.get("duration") or 1)) for p in items]
    count = max(1, min(MAX_SHOTS, math.ceil(seconds / INTELLIGENT_SHOT_S)))
    return [(prompt, seconds / count)] * count


def shot_frames(shots: list[tuple[str, float]], fps: float, total: int) -> list[int]:
    """Frames per shot: each shot's seconds × fps, the last one taking what is left of ``total``
    (the output's few extra frames, see :func:`sizing.frame_count`)."""
    counts = [int(round(s * fps)) for _, s in shots]
    counts[-1] = max(1, total - sum(counts[:-1]))
    return counts
