"""Decode media to measure it: used to validate inputs and, in tests, to check outputs."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
from av.container import InputContainer
from PIL import Image


@dataclass(frozen=True)
class MediaInfo:
    duration: float  # seconds; 0.0 for still images
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None
    fps: float | None
    frames: int | None
    sample_rate: int | None
    channels: int | None
    format_name: str


def open_input(source: bytes | str | Path) -> InputContainer:
    """Open media held in memory (bytes) or at a path for decoding."""
    return av.open(io.BytesIO(source) if isinstance(source, bytes | bytearray) else str(source), "r")


def probe_av(source: bytes | str | Path) -> MediaInfo:
    """Probe a video or audio file by decoding its streams' headers (PyAV/FFmpeg)."""
    with open_input(source) as container:
        v = container.streams.video[0] if container.streams.video else None
        a = container.streams.audio[0] if container.streams.audio else None
        duration = 0.0
        if container.duration is not None:
            duration = container.duration / 1_000_000
        frames = None
        fps = None
        if v is not None:
            fps = float(v.average_rate) if v.average_rate else None
            frames = v.frames or None
            if v.duration is not None and v.time_base is not None:
                duration = max(duration, float(v.duration * v.time_base)) if duration == 0 else duration
        return MediaInfo(
            duration=round(duration, 3),
            width=v.codec_context.width if v is not None else None,
            height=v.codec_context.height if v is not None else None,
            video_codec=v.codec_context.name if v is not None else None,
            audio_codec=a.codec_context.name if a is not None else None,
            fps=fps,
            frames=frames,
            sample_rate=a.codec_context.sample_rate if a is not None else None,
            channels=a.codec_context.channels if a is not None else None,
            format_name=container.format.name,
        )


def count_video_frames(source: bytes | str | Path) -> int:
    """Decode every frame and count them (exact, unlike container metadata)."""
    with open_input(source) as container:
        return sum(1 for _ in container.decode(video=0))


def probe_image(source: bytes | str | Path) -> MediaInfo:
    data = source if isinstance(source, bytes | bytearray) else Path(source).read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return MediaInfo(
            duration=0.0,
            width=img.width,
            height=img.height,
            video_codec=None,
            audio_codec=None,
            fps=None,
            frames=None,
            sample_rate=None,
            channels=None,
            format_name=(img.format or "").lower(),
        )
