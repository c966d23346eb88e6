"""What crosses the process-pool boundary: a picklable job in, a list of files out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RenderJob:
    family: str
    request: dict[str, Any]
    seed: int
    out_dir: str  # a fresh temp dir the renderer writes into; the engine removes it
    inputs: dict[str, Any] = field(default_factory=dict)  # bytes, lists of bytes, or None
    params: dict[str, Any] = field(default_factory=dict)  # e.g. selections of a session


@dataclass(frozen=True)
class RenderedFile:
    role: str  # "video", "image", "series" (an image of a series), "mp3", "wav", "speech" (a lone mp3),
    # "face", "source", "mask", "shot" (face_families.py)
    name: str  # file name inside the task's result folder
    path: str
    content_type: str
    seconds: float = 0.0  # real length for videos/audio
    index: int = 0
    meta: dict[str, Any] = field(default_factory=dict)  # what the result says about the file
