"""Renderers for omni-video and motion-control (spec more §7.1, §7.2).

Omni: the referenced images are shown as a strip of thumbnails (top left) on every frame; a
first frame opens the video and an end frame closes it; a feature video plays as a
picture-in-picture (top right); a base video is edited in place, keeping its length and sound.
Motion control: the character image follows the motion of the reference video, for as long as
that video moves without a pause. Avatar: the photo, gently breathing, speaks the audio (its
mouth opens with the loudness), exactly as long as the audio, which is muxed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
from PIL import Image

from kling_gateway.errors import TaskFailure

from . import canvas as cv
from .compose import blend, key_light_background
from .encode import (
    SAMPLE_RATE,
    Frame,
    Planes,
    fit_audio,
    inspect_video,
    iter_frames,
    open_image,
    read_audio,
    samples_for,
)
from .jobs import RenderedFile, RenderJob
from .motion import Camera, ease, padded_canvas, view
from .overlay import Overlay
from .refstrip import strip
from .seeding import rng_for
from .shot_plan import shot_frames, shot_list
from .sizing import Geometry, even, frame_count, mode_geometry, requested_seconds
from .synth import envelope, tones
from .video_families import _draw_mouth, _video, text2video_frames

PIP_WIDTH = 0.3  # feature-video width / frame width
MIN_MOTION_S = 3.0
MOTION_LEVEL = 24.0  # a grey-level change this large means a pixel moved (not coding noise)
MOTION_SHARE = 0.002  # a frame moves when this share of its pixels do
MOTION_GAP_S = 0.25  # a pause this short does not break a run of motion


def _pip_frames(video: bytes, size: tuple[int, int]) -> tuple[list[Image.Image], tuple[int, int]]:
    """The feature video, small, for the top-right corner."""
    src = inspect_video(video)
    pw = even(int(size[0] * PIP_WIDTH))
    ph = even(int(pw * src.height / src.width))
    frames = [Image.fromarray(f) for f in iter_frames(video, (pw, ph))]
    margin = even(max(2, int(size[1] * 0.03)))
    return frames, (size[0] - pw - margin, margin)


def _shot_frames(
    job: RenderJob, geo: Geometry, frames: int, prompt: str, index: int, still: Image.Image | None
) -> Iterator[Frame]:
    size = (geo.width, geo.height)
    if still is None:
        yield from text2video_frames({"prompt": prompt}, job.seed + index, geo, frames)
        return
    rng = rng_for(job.seed, "omni-camera", index)
    camera = Camera(dx=float(rng.uniform(-0.05, 0.05)), dy=float(rng.uniform(-0.03, 0.03)), zoom=1.1)
    world = padded_canvas(still.resize(size, Image.Resampling.BILINEAR))
    for i in range(frames):
        yield view(world, size, camera.at(i / max(1, frames - 1)))


def _as_image(frame: Frame) -> Image.Image | Planes:
    return Image.fromarray(frame) if isinstance(frame, np.ndarray) else frame


def render_omni_video(job: RenderJob) -> list[RenderedFile]:
    req = job.request
    refs = [open_image(b) for b in job.inputs.get("references") or []]
    first = open_image(job.inputs["first_frame"]) if job.inputs.get("first_frame") else None
    end = open_image(job.inputs["end_frame"]) if job.inputs.get("end_frame") else None
    video: bytes | None = job.inputs.get("video")
    refer = job.params.get("refer_type")
    keep_sound = job.params.get("keep_original_sound") != "no"
    if video is not None and refer == "base":
        return [_edit_base(job, video, refs, keep_sound)]
    geo = mode_geometry(req.get("mode") or "pro", req.get("aspect_ratio"), first.size if first else None)
    size = (geo.width, geo.height)
    total = frame_count(requested_seconds(req.get("duration")), geo.fps)
    shots = shot_list(req, requested_seconds(req.get("duration")))
    cuts = shot_frames(shots, geo.fps, total)
    thumbs = strip(refs, size)
    pip = _pip_frames(video, size) if video is not None else None
    end_arr = np.asarray(cv.cover(end, size)) if end is not None else None
    fade = max(1, int(geo.fps))  # the last second turns into the end frame

    def gen() -> Iterator[Frame]:
        n = 0
        for index, ((prompt, _), count) in enumerate(zip(shots, cuts, strict=True)):
            still = first if index == 0 else (end if index == len(shots) - 1 else None)
            for frame in _shot_frames(job, geo, count, prompt, index, still):
                if end_arr is not None and n >= total - fade and not isinstance(frame, Planes):
                    t = (n - (total - fade) + 1) / fade
                    frame = blend(np.asarray(frame), end_arr, ease(t))
                out = _as_image(frame)
                for overlay, pos in thumbs:
                    overlay.paste(out, pos)
                if pip is not None and pip[0]:
                    small = pip[0][n % len(pip[0])]
                    Overlay(small, Image.new("L", small.size, 255)).paste(out, pip[1])
                n += 1
                yield out

    audio = None
    if (req.get("sound") or "off") == "on":
        audio = tones(rng_for(job.seed, "sound"), samples_for(total, geo.fps))
    return [_video(job, gen(), geo.width, geo.height, geo.fps, audio)]


def _edit_base(job: RenderJob, video: bytes, refs: list[Image.Image], keep_sound: bool) -> RenderedFile:
    """A base video edited in place: same size, rate, length and (unless told not to) sound."""
    src = inspect_video(video)
    size = (src.width, src.height)
    thumbs = strip(refs, size)
    audio = (
        fit_audio(read_audio(video), samples_for(src.frames, src.fps))
        if keep_sound and src.has_audio
        else None
    )

    def gen() -> Iterator[Frame]:
        for frame in iter_frames(video, size):
            out = Image.fromarray(frame)
            for overlay, pos in thumbs:
                overlay.paste(out, pos)
            yield out

    return _video(job, gen(), src.width, src.height, src.fps, audio)


# ---- motion control ---------------------------------------------------------------------


def motion_run(video: bytes, fps: Fraction) -> tuple[int, int, list[tuple[float, float]]]:
    """The longest stretch of continuous motion: (first frame, frame count, motion centre per frame).

    A frame moves when enough pixels of a small copy change clearly; pauses under
    ``MOTION_GAP_S`` do not end a stretch."""
    src = inspect_video(video)
    small = (max(2, src.width // 4 // 2 * 2), max(2, src.height // 4 // 2 * 2))
    prev: np.ndarray | None = None
    moving: list[bool] = []
    centres: list[tuple[float, float]] = []
    ys, xs = np.mgrid[0 : small[1], 0 : small[0]]
    for frame in iter_frames(video, small):
        grey = frame.mean(axis=2)
        if prev is None:
            moving.append(False)
            centres.append((0.5, 0.5))
        else:
            diff = np.abs(grey - prev)
            moving.append(float((diff >= MOTION_LEVEL).mean()) >= MOTION_SHARE)
            weight = float(diff.sum())
            if weight > 0:
                centres.append(
                    (
                        float((diff * xs).sum()) / weight / small[0],
                        float((diff * ys).sum()) / weight / small[1],
                    )
                )
            else:
                centres.append(centres[-1])
        prev = grey
    gap = int(MOTION_GAP_S * float(fps))
    best, start, last_move = (0, 0), None, -1
    for i, m in enumerate(moving + [False] * (gap + 1)):
        if m:
            if start is None:
                start = i
            last_move = i
        elif start is not None and i - last_move > gap:
            length = last_move - start + 1
            if length > best[1]:
                best = (start, length)
            start = None
    first, count = best
    return first, count, centres[first : first + count]


def render_motion_control(job: RenderJob) -> list[RenderedFile]:
    req = job.request
    character = open_image(job.inputs["image"])
    video: bytes = job.inputs["video"]
    src = inspect_video(video)
    first, count, centres = motion_run(video, src.fps)
    if count / float(src.fps) < MIN_MOTION_S:
        raise TaskFailure(
            f"video_url: only {count / float(src.fps):.1f} s of continuous motion found; at least 3 s is needed"
        )
    follows_video = req.get("character_orientation") == "video" or bool(req.get("element_list"))
    shape = (src.width, src.height) if follows_video else character.size
    geo = mode_geometry(req.get("mode") or "std", None, shape)
    size = (geo.width, geo.height)
    h = size[1]
    body = character.resize((even(int(h * 0.6 * character.width / character.height)), even(int(h * 0.6))))
    alpha = key_light_background(body)

    def gen() -> Iterator[Frame]:
        for i, frame in enumerate(iter_frames(video, size)):
            if i < first:
                continue
            k = i - first
            if k >= count:
                break
            out = Image.fromarray(blend(frame, np.zeros_like(frame), 0.35))
            cx, cy = centres[k]
            x = int(cx * size[0] - body.width / 2)
            y = int(cy * size[1] - body.height / 2)
            out.paste(body, (x, y), alpha)
            yield out

    audio = None
    if (req.get("keep_original_sound") or "yes") == "yes" and src.has_audio:
        full = read_audio(video)
        offset = samples_for(first, src.fps)
        audio = fit_audio(None if full is None else full[:, offset:], samples_for(count, src.fps))
    return [_video(job, gen(), geo.width, geo.height, src.fps, audio)]


def render_avatar(job: RenderJob) -> list[RenderedFile]:
    photo = open_image(job.inputs["image"])
    speech = read_audio(job.inputs["audio"])
    if speech is None or speech.shape[1] == 0:
        raise TaskFailure("sound_file: has no audio")
    geo = mode_geometry(job.request.get("mode") or "std", None, photo.size)
    size = (geo.width, geo.height)
    frames = max(1, int(round(speech.shape[1] / SAMPLE_RATE * geo.fps)))
    audio = fit_audio(speech, samples_for(frames, geo.fps))
    loudness = envelope(audio, frames, float(geo.fps))
    world = padded_canvas(photo.resize(size, Image.Resampling.BILINEAR))

    def gen() -> Iterator[Frame]:
        for i in range(frames):
            breath = 1.04 + 0.015 * math.sin(2 * math.pi * i / (geo.fps * 4))
            img = view(world, size, (0.0, 0.0, breath, 0.0))
            _draw_mouth(img, float(loudness[min(i, len(loudness) - 1)]) if len(loudness) else 0.0)
            yield img

    return [_video(job, gen(), geo.width, geo.height, geo.fps, audio)]
