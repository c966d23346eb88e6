"""Output geometry and length rules as Kling delivers them (spec §17)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# models whose pro mode renders 1080p-class; kling-v1 pro stays 720p, v2-master is 720p
_PRO_1080 = {"kling-v1-5", "kling-v1-6", "kling-v2-1", "kling-v2-5-turbo", "kling-v2-6", "kling-v3"}
_ALWAYS_1080 = {"kling-v2-1-master"}
BUDGET = {720: 1280 * 720, 1080: 1920 * 1080, 2160: 3840 * 2160}
# 3.x-generation outputs by class (spec more §10): 16:9, 9:16, 1:1
_MODE_CLASS = {"std": 720, "pro": 1080, "4k": 2160}
_3X_SIZES = {
    720: {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (960, 960)},
    1080: {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1440, 1440)},
    2160: {"16:9": (3840, 2160), "9:16": (2160, 3840), "1:1": (2880, 2880)},
}

IMAGE_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "1k": {
        "1:1": (1024, 1024),
        "16:9": (1360, 768),
        "9:16": (768, 1360),
        "4:3": (1168, 880),
        "3:4": (880, 1168),
        "3:2": (1248, 832),
        "2:3": (832, 1248),
        "21:9": (1552, 656),
    },
    "2k": {
        "1:1": (2048, 2048),
        "16:9": (2720, 1536),
        "9:16": (1536, 2720),
        "4:3": (2336, 1760),
        "3:4": (1760, 2336),
        "3:2": (2496, 1664),
        "2:3": (1664, 2496),
        "21:9": (3104, 1312),
    },
    "4k": {
        "1:1": (4096, 4096),
        "16:9": (5440, 3072),
        "9:16": (3072, 5440),
        "4:3": (4672, 3520),
        "3:4": (3520, 4672),
        "3:2": (4992, 3328),
        "2:3": (3328, 4992),
        "21:9": (6208, 2624),
    },
}


@dataclass(frozen=True)
class Geometry:
    width: int
    height: int
    fps: int


def video_class(model: str, mode: str) -> int:
    """720, 1080 or 2160: the pixel class of a model/mode pair. ``4k`` is 2160 (validation lets
    it through only for models whose catalogue offer lists the 4k resolution)."""
    if mode == "4k":
        return 2160
    if model in _ALWAYS_1080:
        return 1080
    return 1080 if mode == "pro" and model in _PRO_1080 else 720


def video_fps(model: str, image_driven: bool) -> int:
    if model in ("kling-v1", "kling-v1-5"):
        return 30
    if model == "kling-v1-6":
        return 30 if image_driven else 24
    if model.startswith("kling-v2") or model.startswith("kling-v3"):
        return 24
    return 30


def aspect_size(cls: int, aspect: str, model: str, mode: str) -> tuple[int, int]:
    if cls == 2160:  # 3.x 4k sizes (spec more §10): 3840×2160, 2160×3840, 2880×2880
        return _3X_SIZES[2160].get(aspect, _3X_SIZES[2160]["16:9"])
    long = 1920 if cls == 1080 else 1280
    short = cls
    if aspect == "9:16":
        return short, long
    if aspect == "1:1":
        if model == "kling-v1-6" and mode != "pro":
            return 960, 960
        return short, short
    return long, short


def fit_budget(width: int, height: int, cls: int) -> tuple[int, int]:
    """The input's aspect at the class's pixel budget, even dimensions (1000x1000 → 960x960)."""
    aspect = width / height
    w = math.sqrt(BUDGET[cls] * aspect)
    h = w / aspect
    return max(2, int(round(w / 2)) * 2), max(2, int(round(h / 2)) * 2)


def text_geometry(request: dict[str, Any], default_model: str = "kling-v1") -> Geometry:
    model = request.get("model_name") or default_model
    mode = request.get("mode") or "std"
    w, h = aspect_size(video_class(model, mode), request.get("aspect_ratio") or "16:9", model, mode)
    return Geometry(w, h, video_fps(model, image_driven=False))


def image_geometry(
    request: dict[str, Any], image_size: tuple[int, int], default_model: str = "kling-v1"
) -> Geometry:
    model = request.get("model_name") or default_model
    mode = request.get("mode") or "std"
    w, h = fit_budget(image_size[0], image_size[1], video_class(model, mode))
    return Geometry(w, h, video_fps(model, image_driven=True))


def mode_geometry(mode: str, aspect: str | None, image_size: tuple[int, int] | None = None) -> Geometry:
    """Omni and motion-control outputs: ``std`` 720p, ``pro`` 1080p, ``4k``; 24 fps. An input
    image (or video) sets the aspect at the class's pixel budget, else ``aspect`` does."""
    cls = _MODE_CLASS.get(mode, 1080)
    if image_size is not None:
        w, h = fit_budget(image_size[0], image_size[1], cls)
    else:
        w, h = _3X_SIZES[cls].get(aspect or "16:9", _3X_SIZES[cls]["16:9"])
    return Geometry(w, h, 24)


def frame_count(seconds: float, fps: float) -> int:
    """Whole frames for a requested length: like Kling, about 0.1 s more ("5" → 5.1 s)."""
    return int(round(seconds * fps)) + int(math.floor(0.1 * fps))


def duration_text(seconds: float) -> str:
    """Durations on the wire: seconds with one decimal."""
    return f"{seconds + 1e-9:.1f}"


def requested_seconds(value: object, default: float = 5.0) -> float:
    """A requested ``duration`` in seconds; the default when absent or not a number."""
    if not isinstance(value, int | float | str) or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        return default


def even(value: int) -> int:
    return max(2, value - value % 2)
