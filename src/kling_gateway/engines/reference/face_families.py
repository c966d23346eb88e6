"""Renderers of identify-face, advanced lip-sync, image-recognize and ai-multi-shot.

* identify-face: the video is sampled 4 times a second; a face is present in a sample when the
  :mod:`figure` rule finds a face mask there. Each unbroken stretch of ≥ 2 s is one face
  (``face_id`` "0", "1", … in time order) with its window in ms and a PNG crop of its head at
  the middle of the stretch. The source video is kept (role ``source``) as the session's parent.
* advanced lip-sync: the parent video, frame for frame, with ``[sound_start_time,
  sound_end_time)`` of the audio mixed in at ``sound_insert_time`` (volumes applied, the
  original track scaled by ``original_audio_volume``) and a mouth moving with it meanwhile.
* image-recognize: the four :mod:`figure` masks as greyscale PNGs of the image's size (255 =
  inside); a type the picture does not contain gets ``is_contain: false`` and an all-black mask.
* ai-multi-shot: three candidate sets of three side views (turned by narrowing and mirroring
  the frontal picture, per-set angles and backdrop), each the frontal image's size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .encode import SAMPLE_RATE, fit_audio, inspect_video, iter_frames, open_image, read_audio, samples_for
from .figure import find_figure
from .jobs import RenderedFile, RenderJob
from .seeding import rng_for
from .synth import envelope
from .video_families import _draw_mouth, _video

SAMPLES_PER_SECOND = 4
MIN_FACE_MS = 2000
FACE_CROP_MIN_SIDE = 128
SHOT_ANGLES = ((-35, 35, 90), (-60, 60, -90), (-20, 20, 180))  # degrees, one tuple per set


def _write_png(
    job: RenderJob, img: Image.Image, name: str, role: str, index: int = 0, **meta: object
) -> RenderedFile:
    path = Path(job.out_dir) / name
    img.save(path, format="PNG")
    return RenderedFile(role, name, str(path), "image/png", index=index, meta=dict(meta))


def _face_crop(frame: np.ndarray, box: tuple[int, int, int, int]) -> Image.Image:
    x0, y0, x1, y1 = box
    pad_x, pad_y = (x1 - x0) // 5, (y1 - y0) // 5
    h, w = frame.shape[:2]
    crop = Image.fromarray(
        frame[max(0, y0 - pad_y) : min(h, y1 + pad_y), max(0, x0 - pad_x) : min(w, x1 + pad_x)]
    )
    scale = FACE_CROP_MIN_SIDE / min(crop.size)
    if scale > 1:
        crop = crop.resize(
            (math.ceil(crop.width * scale), math.ceil(crop.height * scale)), Image.Resampling.LANCZOS
        )
    return crop


def find_faces(video: bytes) -> tuple[list[tuple[int, int, Image.Image]], float]:
    """Faces of a video as ``(start_ms, end_ms, crop)`` in time order, and its duration (s)."""
    src = inspect_video(video)
    fps = float(src.fps)
    step = max(1, int(round(fps / SAMPLES_PER_SECOND)))
    samples: list[tuple[float, Image.Image | None]] = []
    for i, frame in enumerate(iter_frames(video)):
        if i % step:
            continue
        figure = find_figure(frame)
        box = figure.head_box() if figure.face.any() else None
        samples.append((i / fps, _face_crop(frame, box) if box is not None else None))
    faces = []
    run: list[tuple[float, Image.Image]] = []
    for t, crop in [*samples, (src.duration, None)]:
        if crop is not None:
            run.append((t, crop))
            continue
        if run:
            start, end = run[0][0], min(src.duration, run[-1][0] + step / fps)
            if (end - start) * 1000 >= MIN_FACE_MS - 1:
                faces.append((int(round(start * 1000)), int(round(end * 1000)), run[len(run) // 2][1]))
            run = []
    return faces, src.duration


def render_identify_face(job: RenderJob) -> list[RenderedFile]:
    video: bytes = job.inputs["video"]
    faces, duration = find_faces(video)
    out = []
    if job.params.get("keep_source", True):  # a video of the gateway's own is stored already
        source = Path(job.out_dir) / "source.mp4"
        source.write_bytes(video)
        out.append(RenderedFile("source", source.name, str(source), "video/mp4", seconds=duration))
    for k, (start, end, crop) in enumerate(faces):
        out.append(
            _write_png(job, crop, f"face_{k}.png", "face", face_id=str(k), start_time=start, end_time=end)
        )
    return out


def _ms_samples(ms: float) -> int:
    return int(round(ms * SAMPLE_RATE / 1000))


def render_advanced_lip_sync(job: RenderJob) -> list[RenderedFile]:
    video: bytes = job.inputs["video"]
    choice = job.params["choice"]
    src = inspect_video(video)
    total = samples_for(src.frames, src.fps)
    original = fit_audio(read_audio(video), total) * float(choice.get("original_audio_volume", 1.0))
    sound = read_audio(job.inputs["audio"])
    start, end = _ms_samples(choice["sound_start_time"]), _ms_samples(choice["sound_end_time"])
    clip = fit_audio(sound[:, start:] if sound is not None else None, end - start)
    clip = clip * float(choice.get("sound_volume", 1.0))
    insert = min(total, _ms_samples(choice["sound_insert_time"]))
    placed = clip[:, : total - insert]
    mixed = original.copy()
    mixed[:, insert : insert + placed.shape[1]] += placed
    mixed = np.clip(mixed, -1.0, 1.0).astype(np.float32)
    fps = float(src.fps)
    first = int(round(insert / SAMPLE_RATE * fps))
    env = envelope(placed, max(0, int(round(placed.shape[1] / SAMPLE_RATE * fps))), fps)

    def gen() -> Iterator[Image.Image]:
        for i, frame in enumerate(iter_frames(video, (src.width, src.height))):
            img = Image.fromarray(frame)
            if 0 <= i - first < len(env):
                _draw_mouth(img, float(env[i - first]))
            yield img

    return [_video(job, gen(), src.width, src.height, src.fps, mixed)]


def render_image_recognize(job: RenderJob) -> list[RenderedFile]:
    rgb = np.asarray(open_image(job.inputs["image"], "image"))
    out = []
    for kind, mask in find_figure(rgb).masks().items():
        img = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L")
        out.append(_write_png(job, img, f"{kind}.png", "mask", type=kind, is_contain=bool(mask.any())))
    return out


def _side_view(frontal: Image.Image, angle: int, backdrop: tuple[int, int, int]) -> Image.Image:
    """The frontal picture turned by ``angle`` degrees about the vertical axis, crudely: narrowed
    by |cos|, mirrored and shaded on the far side when turned, darkened from behind."""
    w, h = frontal.size
    canvas = Image.new("RGB", (w, h), backdrop)
    picture = ImageOps.mirror(frontal) if angle < 0 or abs(angle) >= 180 else frontal
    width = max(8, int(round(w * max(0.3, abs(math.cos(math.radians(angle)))))))
    turned = picture.resize((width, h), Image.Resampling.LANCZOS)
    if abs(angle) >= 180:
        turned = Image.eval(turned, lambda v: v * 3 // 5)
    else:  # the side turned away falls into shadow: a left and a right view differ
        ramp = np.linspace(1.0, 1.0 - 0.5 * abs(math.sin(math.radians(angle))), width, dtype=np.float32)
        shade = ramp if angle > 0 else ramp[::-1]
        turned = Image.fromarray((np.asarray(turned, np.float32) * shade[None, :, None]).astype(np.uint8))
    canvas.paste(turned, ((w - width) // 2, 0))
    return canvas


def render_ai_multi_shot(job: RenderJob) -> list[RenderedFile]:
    frontal = open_image(job.inputs["image"])
    out = []
    for k, angles in enumerate(SHOT_ANGLES):
        rng = rng_for(job.seed, "shot-set", k)
        r, g, b = (int(v) for v in rng.integers(30, 226, size=3))
        backdrop = (r, g, b)
        for j, angle in enumerate(angles):
            view = _side_view(frontal, angle, backdrop)
            out.append(_write_png(job, view, f"shot_{k}_{j + 1}.png", "shot", k, slot=f"url_{j + 1}"))
    return out
