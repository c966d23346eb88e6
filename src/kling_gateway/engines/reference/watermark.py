"""Watermarked copies of rendered results (``watermark_info.enabled``, spec §3 / more §3.4).

Kling delivers a second file per media item, the same picture with its mark in the corner, as
``watermark_url``. The reference engine draws a visible "KLING AI" badge (Kling's default mark;
custom marks are not supported) bottom right, on every frame of a video (sound kept) or on the
image. The copy of ``video.mp4`` is ``video_watermark.mp4``: :func:`watermark_name` is the one
rule that pairs a file with its copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from .encode import fit_audio, inspect_video, iter_frames, read_audio, samples_for, write_mp4, write_png
from .jobs import RenderedFile, RenderJob

WATERMARK = "KLING AI"
MARKED_ROLES = ("video", "image", "series")


def watermark_name(name: str) -> str:
    """The file name of ``name``'s watermarked copy (``video.mp4`` → ``video_watermark.mp4``)."""
    path = Path(name)
    return f"{path.stem}_watermark{path.suffix}"


def badge_box(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where the badge sits (x0, y0, x1, y1); tests compare the pixels there."""
    w, h = size
    band = max(12, min(w, h) // 14)
    return (w - band * 6, h - band * 2, w - band // 2, h - band // 2)


def mark(img: Image.Image) -> Image.Image:
    """``img`` with the badge drawn on (in place; returned for chaining)."""
    x0, y0, x1, y1 = badge_box(img.size)
    band = max(12, min(img.size) // 14)
    draw = ImageDraw.Draw(img, "RGBA")
    draw.rectangle((x0, y0, x1, y1), fill=(255, 255, 255, 150))
    draw.text((x0 + band * 0.4, y0 + band * 0.2), WATERMARK, fill=(0, 0, 0, 230), font_size=band)
    return img


def marked_frames(video: str | Path, size: tuple[int, int]) -> Iterator[Image.Image]:
    """The frames of ``video`` again, each with the badge."""
    for frame in iter_frames(video, size):
        yield mark(Image.fromarray(frame))


def wants_watermark(request: dict[str, Any]) -> bool:
    """Legacy layout: ``watermark_info`` at the top level of the body."""
    info = request.get("watermark_info")
    return isinstance(info, dict) and bool(info.get("enabled"))


def add_watermarks(job: RenderJob, files: list[RenderedFile]) -> list[RenderedFile]:
    """``files`` plus a watermarked copy of each video and image, when the request asks for one."""
    if not wants_watermark(job.request):
        return files
    copies = []
    for f in files:
        if f.role not in MARKED_ROLES:
            continue
        out = Path(job.out_dir) / watermark_name(f.name)
        if f.role == "video":
            src = inspect_video(f.path)
            audio = read_audio(f.path)
            if audio is not None:
                audio = fit_audio(audio, samples_for(src.frames, src.fps))
            size = (src.width, src.height)
            write_mp4(out, marked_frames(f.path, size), src.width, src.height, src.fps, audio)
        else:
            with Image.open(f.path) as img:
                write_png(out, mark(img.convert("RGB")))
        copies.append(RenderedFile("watermark", out.name, str(out), f.content_type, f.seconds, f.index))
    return files + copies
