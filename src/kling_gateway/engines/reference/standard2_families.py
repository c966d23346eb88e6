"""Renderer for the new-standard products (``v2/*``): text/image to video, omni video, motion
control. Runs in the render pool like the legacy families.

Frame sizes (spec kling-api-more.md §10): 720p 1280×720 / 720×1280 / 960×960, 1080p
1920×1080 / 1080×1920 / 1440×1440, 4k 3840×2160 / 2160×3840 / 2880×2880; 24 fps. A request for
N seconds gets N·24 + 1 frames (Kling reports ``"5.041"`` for 5 s). Multi-shot prompts cut to a new
scene at each shot boundary. Sound: ``native`` (and 3.0-turbo, which always has sound) is a
synthesized AAC track; ``original`` carries the input video's own sound.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kling_gateway.standard2.shots import parse_shots

from . import canvas as cv
from .compose import blend
from .encode import (
    Frame,
    Planes,
    fit_audio,
    inspect_video,
    iter_frames,
    open_image,
    read_audio,
    samples_for,
    write_mp4,
)
from .jobs import RenderedFile, RenderJob
from .motion import ease
from .seeding import rng_for
from .sizing import Geometry
from .synth import tones
from .video_families import text2video_frames
from .watermark import marked_frames, watermark_name

FPS = 24
SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "720p": {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (960, 960)},
    "1080p": {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1440, 1440)},
    "4k": {"16:9": (3840, 2160), "9:16": (2160, 3840), "1:1": (2880, 2880)},
}
SOUND_ALWAYS = ("kling-3.0-turbo",)
MAX_FOLLOWED_SECONDS = 30.0


def frames_for(seconds: float) -> int:
    return int(round(seconds * FPS)) + 1


def duration_text(frames: int) -> str:
    """Output length as Kling writes it on this standard: seconds, three decimals."""
    return f"{frames / FPS:.3f}"


def size_for(resolution: str, aspect: str) -> tuple[int, int]:
    return SIZES.get(resolution, SIZES["720p"]).get(aspect, SIZES["720p"]["16:9"])


def size_like(resolution: str, width: int, height: int) -> tuple[int, int]:
    """The resolution's pixel area at the aspect of an input (image-to-video follows the first frame)."""
    w16, h16 = size_for(resolution, "16:9")
    ratio = max(0.4, min(2.5, width / height))
    w = math.sqrt(w16 * h16 * ratio)
    return (max(2, int(w) // 2 * 2), max(2, int(w / ratio) // 2 * 2))


def _contents(request: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [item for item in request.get("contents") or [] if item.get("type") == kind]


def _prompt(request: dict[str, Any]) -> str:
    if request.get("prompt"):
        return str(request["prompt"])
    texts = _contents(request, "prompt")
    return str(texts[0].get("text") or "") if texts else ""


def shot_bounds(request: dict[str, Any], frames: int) -> list[tuple[int, str]]:
    """(first frame, words) of each shot; one shot unless the prompt is multi-shot and allowed."""
    prompt = _prompt(request)
    settings = request.get("settings") or {}
    multi = settings.get("multi_shot", request.get("model") in SOUND_ALWAYS)
    if not multi:
        return [(0, prompt)]
    try:
        shots = parse_shots(prompt)
    except ValueError:
        shots = None
    if not shots:
        return [(0, prompt)]
    out, at = [], 0.0
    for shot in shots:
        out.append((min(frames - 1, int(round(at * FPS))), shot.words))
        at += shot.seconds
    return out


def _still_frames(
    first: Image.Image, last: Image.Image | None, size: tuple[int, int], frames: int
) -> Iterator[np.ndarray]:
    """A slow push-in on the first frame, easing into the last frame when one is given."""
    base = cv.cover(first, size)
    end = np.asarray(cv.cover(last, size)) if last is not None else None
    w, h = size
    for i in range(frames):
        t = i / max(1, frames - 1)
        zoom = 1.0 + 0.12 * t
        cw, ch = int(w / zoom), int(h / zoom)
        x0, y0 = (w - cw) // 2, (h - ch) // 2
        arr = np.asarray(base.crop((x0, y0, x0 + cw, y0 + ch)).resize(size, Image.Resampling.BILINEAR))
        yield blend(arr, end, ease(t)) if end is not None else arr


def _with_refs(frames: Iterator[Frame], refs: list[Image.Image], size: tuple[int, int]) -> Iterator[Frame]:
    """Reference images shown as a strip of thumbnails (omni ``refer_image``)."""
    if not refs:
        yield from frames
        return
    thumb = max(16, min(size) // 6) // 2 * 2
    tiles = [cv.cover(img, (thumb, thumb)) for img in refs]
    planes = [Planes.from_rgb(tile) for tile in tiles]
    opaque = (Image.new("L", (thumb, thumb), 255), Image.new("L", (thumb // 2, thumb // 2), 255))
    for frame in frames:
        if isinstance(frame, Planes):
            for k, tile in enumerate(planes):
                frame.paste(tile, (8 + k * (thumb + 8), 8), opaque)
            yield frame
            continue
        img = frame.copy() if isinstance(frame, Image.Image) else Image.fromarray(np.asarray(frame))
        for k, tile_img in enumerate(tiles):
            img.paste(tile_img, (8 + k * (thumb + 8), 8))
        yield img


def _followed(video: bytes, size: tuple[int, int], limit: float) -> list[np.ndarray]:
    """The input video's frames at 24 fps (nearest frame), scaled to ``size``, up to ``limit`` s."""
    source = list(iter_frames(video, size))
    info = inspect_video(video)
    seconds = min(limit, info.duration)
    count = max(1, int(round(seconds * FPS)))
    return [source[min(len(source) - 1, int(i / FPS * float(info.fps)))] for i in range(count)]


def render_standard2(job: RenderJob) -> list[RenderedFile]:
    req = job.request
    product = job.family.split("/", 1)[1]
    settings = req.get("settings") or {}
    resolution = str(settings.get("resolution") or "720p")
    audio_mode = "native" if req.get("model") in SOUND_ALWAYS else str(settings.get("audio") or "off")
    first = job.inputs.get("first_frame")
    last = job.inputs.get("last_frame")
    video = job.inputs.get("video")  # motion reference, base video or feature video
    refs = [open_image(b) for b in job.inputs.get("refer_images") or []]
    followed: list[np.ndarray] | None = None

    if product == "motion-control":
        appearance = open_image(job.inputs["image"])
        orientation = settings.get("character_orientation", "video")
        src_w, src_h = job.params["video_size"] if orientation == "video" else appearance.size
        size = size_like(resolution, src_w, src_h)
        followed = _followed(job.inputs["video"], size, MAX_FOLLOWED_SECONDS)
        person = np.asarray(cv.cover(appearance, size))
        frame_list = [blend(f, person, 0.45) for f in followed]  # the reference's motion, the image's look
        frames = len(frame_list)
        gen: Iterator[Frame] = iter(frame_list)
    elif product == "omni-video" and job.params.get("video_role") == "base_video":
        w, h = job.params["video_size"]
        size = size_like(resolution, w, h)
        followed = _followed(job.inputs["video"], size, MAX_FOLLOWED_SECONDS)
        tint = np.array(cv.palette(rng_for(job.seed, "edit"))[0], np.float32)
        frame_list = [(0.7 * f + 0.3 * tint).astype(np.uint8) for f in followed]  # the edit: a colour grade
        frames = len(frame_list)
        gen = iter(frame_list)
    else:
        frames = frames_for(float(settings.get("duration") or 5))
        if first is not None:
            head = open_image(first)
            size = (
                size_like(resolution, *head.size)
                if product == "image-to-video"
                else size_for(resolution, str(settings.get("aspect_ratio") or "16:9"))
            )
        else:
            size = size_for(resolution, str(settings.get("aspect_ratio") or "16:9"))
        gen = _shots(job, size, frames, first, last)
        gen = _with_refs(gen, refs, size)

    audio = None
    samples = samples_for(frames, FPS)
    if audio_mode == "native":
        audio = tones(rng_for(job.seed, "sound"), samples)
    elif audio_mode == "original" and video is not None:
        audio = fit_audio(read_audio(video), samples)
    path = Path(job.out_dir) / "video.mp4"
    count = write_mp4(path, gen, size[0], size[1], FPS, audio)
    files = [RenderedFile("video", "video.mp4", str(path), "video/mp4", seconds=count / FPS)]
    mark = (req.get("options") or {}).get("watermark_info") or {}
    if mark.get("enabled"):  # §3.4: the result also carries watermark_url
        marked = Path(job.out_dir) / watermark_name("video.mp4")
        write_mp4(marked, marked_frames(path, size), size[0], size[1], FPS, audio)
        files.append(RenderedFile("watermark", marked.name, str(marked), "video/mp4", seconds=count / FPS))
    return files


def _shots(
    job: RenderJob, size: tuple[int, int], frames: int, first: bytes | None, last: bytes | None
) -> Iterator[Frame]:
    """Each shot its own seeded scene (a hard cut between shots); an image-driven first shot
    starts on the first frame and the last shot ends on the last frame."""
    bounds = shot_bounds(job.request, frames)
    geo = Geometry(size[0], size[1], FPS)
    for k, (start, words) in enumerate(bounds):
        end = bounds[k + 1][0] if k + 1 < len(bounds) else frames
        count = end - start
        if first is not None and k == 0:
            tail = open_image(last) if last is not None and len(bounds) == 1 else None
            yield from _still_frames(open_image(first), tail, size, count)
        elif last is not None and k == len(bounds) - 1:
            yield from _still_frames(open_image(last), None, size, count)
        else:
            yield from text2video_frames({"prompt": words}, job.seed + 7919 * k, geo, count)
