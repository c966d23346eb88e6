"""Renderers for the video families. Each takes a RenderJob and returns the files it wrote.

They run in worker processes: top-level functions, bytes in, paths out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from kling_gateway.errors import TaskFailure

from . import canvas as cv
from .compose import blend, cutout, fill_region, key_light_background, load_mask, place
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
from .motion import (
    MARGIN,
    Camera,
    camera_from_request,
    ease,
    padded_canvas,
    trajectory_offsets,
    view,
)
from .overlay import Overlay
from .refstrip import strip
from .seeding import rng_for
from .selection import track
from .shot_plan import shot_frames, shot_list
from .sizing import (
    Geometry,
    frame_count,
    image_geometry,
    requested_seconds,
    text_geometry,
    video_class,
    video_fps,
)
from .synth import envelope, soundtrack, tones

MAX_EXTENDED_SECONDS = 180.0
EXTEND_SECONDS = 4.5


def _video(
    job: RenderJob,
    frames: Iterator[Frame],
    width: int,
    height: int,
    fps: int | Fraction,
    audio: np.ndarray | None,
    name: str = "video.mp4",
) -> RenderedFile:
    """The one place a family's frames become its result file."""
    path = Path(job.out_dir) / name
    count = write_mp4(path, frames, width, height, fps, audio)
    return RenderedFile("video", name, str(path), "video/mp4", seconds=count / float(fps))


def _sound(job: RenderJob, frames: int, fps: int | Fraction) -> np.ndarray | None:
    if (job.request.get("sound") or "off") != "on":
        return None
    return tones(rng_for(job.seed, "sound"), samples_for(frames, fps))


class _Sprites:
    """A few small discs drifting on Lissajous paths: motion inside the scene itself."""

    def __init__(self, rng: np.random.Generator, colors: list[cv.Color], size: tuple[int, int]):
        unit = min(size)
        self.size = size
        self.items = []
        for _ in range(3):
            radius = max(4, int(unit * float(rng.uniform(0.025, 0.05))))
            overlay = Overlay(*cv.sprite(radius, colors[int(rng.integers(0, len(colors)))]))
            self.items.append((overlay, radius, rng.uniform(0.0, 1.0, 4)))

    def draw(self, frame: Image.Image | Planes, t: float) -> None:
        w, h = self.size
        for overlay, r, (ax, ay, px, py) in self.items:
            x = (0.5 + 0.38 * math.sin(2 * math.pi * (t * (0.5 + ax) + px))) * w - r
            y = (0.45 + 0.3 * math.sin(2 * math.pi * (t * (0.4 + ay) + py))) * h - r
            overlay.paste(frame, (int(x), int(y)))


def _caption_overlay(text: str, size: tuple[int, int]) -> tuple[Overlay, tuple[int, int]] | None:
    """The prompt drawn once as a band, pasted on every frame."""
    if not text.strip():
        return None
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    cv.caption(layer, text)
    box = layer.getbbox()
    if box is None:
        return None
    box = (box[0] - box[0] % 2, box[1] - box[1] % 2, box[2], box[3])
    band = layer.crop(box)
    return Overlay(band.convert("RGB"), band.getchannel("A")), (box[0], box[1])


def render_text2video(job: RenderJob) -> list[RenderedFile]:
    geo = text_geometry(job.request)
    seconds = requested_seconds(job.request.get("duration"))
    frames = frame_count(seconds, geo.fps)
    first = text2video_frames(job.request, job.seed, geo, frames)
    return [
        _video(
            job,
            _multi_shot(job, geo, seconds, frames, first),
            geo.width,
            geo.height,
            geo.fps,
            _sound(job, frames, geo.fps),
        )
    ]


SHOT_SEED_STEP = 7919  # each shot is its own seeded scene


def _multi_shot(
    job: RenderJob, geo: Geometry, seconds: float, frames: int, first: Iterator[Frame]
) -> Iterator[Frame]:
    """The video's frames shot by shot (``multi_shot``): the first shot from ``first`` (the
    family's own picture), each later one a new scene of its own prompt, a hard cut between
    them; the reference thumbnails (``element_list``) on every frame. One shot, no references:
    ``first`` unchanged."""
    shots = shot_list(job.request, seconds)
    thumbs = strip([open_image(b) for b in job.inputs.get("references") or []], (geo.width, geo.height))
    if len(shots) == 1 and not thumbs:
        yield from first
        return
    counts = shot_frames(shots, geo.fps, frames)
    for k, ((words, _), count) in enumerate(zip(shots, counts, strict=True)):
        if k == 0:
            source: Iterator[Frame] = itertools.islice(first, count)
        else:
            shot = {**job.request, "prompt": words, "camera_control": None}
            source = text2video_frames(shot, job.seed + SHOT_SEED_STEP * k, geo, count)
        for frame in source:
            out = Image.fromarray(frame) if isinstance(frame, np.ndarray) else frame
            for overlay, pos in thumbs:
                overlay.paste(out, pos)
            yield out


def text2video_frames(req: dict[str, Any], seed: int, geo: Geometry, frames: int) -> Iterator[Planes]:
    """A seeded scene seen through the requested camera, with drifting sprites and the prompt.

    Drawn directly in YUV planes: the scene is converted once, each frame is three
    nearest-neighbour views plus a few small pastes.
    """
    colors = cv.palette(rng_for(seed, "palette"), req.get("negative_prompt") or "")
    size = (geo.width, geo.height)
    half = (geo.width // 2, geo.height // 2)
    world = Planes.from_rgb(
        cv.scene(
            int(geo.width * MARGIN) // 2 * 2,
            int(geo.height * MARGIN) // 2 * 2,
            rng_for(seed, "scene"),
            colors,
        )
    )
    camera = camera_from_request(req.get("camera_control"))
    sprites = _Sprites(rng_for(seed, "sprites"), colors, size)
    caption = _caption_overlay(req.get("prompt") or "", size)
    for i in range(frames):
        state = camera.at(i / max(1, frames - 1))
        frame = Planes(view(world.y, size, state), view(world.u, half, state), view(world.v, half, state))
        sprites.draw(frame, i / max(1, frames - 1))
        if caption:
            caption[0].paste(frame, caption[1])
        yield frame


def render_image2video(job: RenderJob) -> list[RenderedFile]:
    req = job.request
    head_bytes: bytes | None = job.inputs.get("image")
    tail_bytes: bytes | None = job.inputs.get("image_tail")
    source = head_bytes or tail_bytes
    if source is None:  # the inputs step requires one of them
        raise TaskFailure("image: one of image or image_tail is required")
    first = open_image(source)
    geo = image_geometry(req, first.size)
    size = (geo.width, geo.height)
    frames = frame_count(requested_seconds(req.get("duration")), geo.fps)
    still = first.resize(size, Image.Resampling.BILINEAR)
    if head_bytes is None:  # tail only: emerge from a soft, dim version of the end frame
        still = Image.blend(
            still.filter(ImageFilter.GaussianBlur(12)), Image.new("RGB", size, (0, 0, 0)), 0.4
        )
    tail = cv.cover(open_image(tail_bytes), size) if tail_bytes is not None else None
    tail_arr = np.asarray(tail) if tail is not None else None
    still_arr = np.asarray(still)
    static = load_mask(job.inputs["static_mask"], size) if job.inputs.get("static_mask") else None

    dynamic = []
    for group, data in zip(
        req.get("dynamic_masks") or [], job.inputs.get("dynamic_masks") or [], strict=False
    ):
        mask = load_mask(data, size)
        cut = cutout(still_arr, mask)
        if cut is not None:
            dynamic.append(
                (mask, cut, trajectory_offsets(group.get("trajectories") or [], first.size, size, frames))
            )
    if dynamic:
        union = np.logical_or.reduce([m for m, _, _ in dynamic])
        background = Image.fromarray(fill_region(still_arr, union))
        camera = Camera()
    else:
        background = None
        camera = camera_from_request(req.get("camera_control"))
    world = padded_canvas(still)

    def gen() -> Iterator[np.ndarray | Image.Image]:
        for i in range(frames):
            t = i / max(1, frames - 1)
            if background is not None:
                img = background.copy()
                for _, (rgb, alpha, (x0, y0)), offsets in dynamic:
                    dx, dy = offsets[i]
                    img.paste(rgb, (x0 + dx, y0 + dy), alpha)
            else:
                img = view(world, size, camera.at(t))
            if static is None and tail_arr is None:
                yield img
                continue
            arr = np.asarray(img)
            if static is not None:
                arr = arr.copy()
                arr[static] = still_arr[static]
            if tail_arr is not None:
                arr = blend(arr, tail_arr, ease(t))
            yield arr

    seconds = requested_seconds(req.get("duration"))
    video = _multi_shot(job, geo, seconds, frames, gen())
    return [_video(job, video, geo.width, geo.height, geo.fps, _sound(job, frames, geo.fps))]


def render_multi_image2video(job: RenderJob) -> list[RenderedFile]:
    req = job.request
    geo = text_geometry(req, default_model="kling-v1-6")
    size = (geo.width, geo.height)
    frames = frame_count(requested_seconds(req.get("duration")), geo.fps)
    images = [cv.cover(open_image(b), size) for b in job.inputs["image_list"]]
    worlds = [padded_canvas(img) for img in images]
    rng = rng_for(job.seed, "cameras")
    cameras = [
        Camera(dx=float(rng.uniform(-0.06, 0.06)), dy=float(rng.uniform(-0.04, 0.04)), zoom=1.12)
        for _ in images
    ]
    caption = _caption_overlay(req.get("prompt") or "", size)
    per = frames / len(images)
    fade = max(1, int(0.4 * geo.fps))

    def shot(k: int, i: int) -> np.ndarray:
        local = (i - k * per) / per
        return np.asarray(view(worlds[k], size, cameras[k].at(min(1.0, max(0.0, local)))))

    def gen() -> Iterator[np.ndarray | Image.Image]:
        for i in range(frames):
            k = min(len(images) - 1, int(i / per))
            arr = shot(k, i)
            into_next = (k + 1) * per - i
            if k + 1 < len(images) and into_next <= fade:
                arr = blend(arr, shot(k + 1, i), 1 - into_next / fade)
            img = Image.fromarray(arr)
            if caption:
                caption[0].paste(img, caption[1])
            yield img

    return [_video(job, gen(), geo.width, geo.height, geo.fps, None)]


def render_video_extend(job: RenderJob) -> list[RenderedFile]:
    parent = job.inputs["video"]
    src = inspect_video(parent)
    added = int(round(EXTEND_SECONDS * float(src.fps)))
    total = src.frames + added
    if total / float(src.fps) > MAX_EXTENDED_SECONDS:
        raise TaskFailure(
            f"video_id: the extended video would be {total / float(src.fps):.1f} s, over the 180 s limit"
        )
    size = (src.width, src.height)
    rng = rng_for(job.seed, "extend")
    camera = Camera(dx=float(rng.uniform(-0.05, 0.05)), dy=float(rng.uniform(-0.03, 0.03)), zoom=1.15)
    audio = None
    if src.has_audio:
        audio = fit_audio(read_audio(parent), samples_for(total, src.fps))

    def gen() -> Iterator[np.ndarray | Image.Image]:
        last = None
        for frame in iter_frames(parent, size):
            last = frame
            yield frame
        world = padded_canvas(
            Image.fromarray(last if last is not None else np.zeros((src.height, src.width, 3), np.uint8))
        )
        for i in range(added):
            yield view(world, size, camera.at((i + 1) / added))

    return [_video(job, gen(), src.width, src.height, src.fps, audio)]


def _draw_mouth(img: Image.Image, openness: float) -> None:
    w, h = img.size
    unit = min(w, h)
    cx, cy = w / 2, h * 0.64
    mw, mh = unit * 0.09, unit * (0.008 + 0.05 * openness)
    draw = ImageDraw.Draw(img)
    draw.ellipse((cx - mw, cy - mh - unit * 0.012, cx + mw, cy + mh + unit * 0.012), fill=(170, 60, 70))
    draw.ellipse((cx - mw * 0.8, cy - mh, cx + mw * 0.8, cy + mh), fill=(40, 10, 15))
    if openness > 0.3:
        draw.rectangle((cx - mw * 0.5, cy - mh, cx + mw * 0.5, cy - mh + unit * 0.01), fill=(235, 235, 230))


def render_lip_sync(job: RenderJob) -> list[RenderedFile]:
    video = job.inputs["video"]
    speech = job.inputs.get("audio")
    if speech is None:
        from kling_gateway.media.speech import synthesize

        inp = job.request.get("input") or {}
        speech = synthesize(
            inp.get("text") or "", inp.get("voice_language") or "en", float(inp.get("voice_speed") or 1.0)
        )
    src = inspect_video(video)
    audio = fit_audio(read_audio(speech), samples_for(src.frames, src.fps))
    env = envelope(audio, src.frames, float(src.fps))

    def gen() -> Iterator[Image.Image]:
        for i, frame in enumerate(iter_frames(video, (src.width, src.height))):
            img = Image.fromarray(frame)
            _draw_mouth(img, float(env[min(i, len(env) - 1)]) if len(env) else 0.0)
            yield img

    return [_video(job, gen(), src.width, src.height, src.fps, audio)]


DUAL_SCENES = {
    "hug",
    "kiss",
    "heart_gesture",
    "hug_pro",
    "kiss_pro",
    "heart_gesture_pro",
    "fight",
    "fight_pro",
    "cheers_2026",
}
_EFFECT_KINDS = ("bloom", "dizzy", "fuzzy", "squish", "expansion", "rain", "spin")


def effect_kind(scene: str) -> str:
    """Which visual treatment a scene gets: by name where it says so, else by its hash."""
    for key, kind in (
        ("bloom", "bloom"),
        ("dizzy", "dizzy"),
        ("fuzzy", "fuzzy"),
        ("squish", "squish"),
        ("expansion", "expansion"),
        ("rain", "rain"),
        ("bullet", "spin"),
        ("spin", "spin"),
    ):
        if key in scene:
            return kind
    return _EFFECT_KINDS[sum(scene.encode()) % len(_EFFECT_KINDS)]


# A falling (or rising) shape: its colour, its alpha, horizontal position, speed and phase.
_Particle = tuple[Image.Image, Image.Image, float, float, float]


def _particles(
    rng: np.random.Generator, colors: list[cv.Color], size: tuple[int, int], count: int, heart: bool
) -> list[_Particle]:
    unit = min(size)
    shapes: list[_Particle] = []
    for _ in range(count):
        r = max(3, int(unit * float(rng.uniform(0.015, 0.035))))
        if heart:
            rgb = Image.new("RGB", (2 * r, 2 * r), (235, 50, 90))
            alpha = Image.new("L", (2 * r, 2 * r), 0)
            d = ImageDraw.Draw(alpha)
            d.ellipse((0, 0, r, r), fill=255)
            d.ellipse((r, 0, 2 * r, r), fill=255)
            d.polygon([(0, r * 0.6), (2 * r, r * 0.6), (r, 2 * r)], fill=255)
        else:
            rgb, alpha = cv.sprite(r, colors[int(rng.integers(0, len(colors)))])
        shapes.append(
            (rgb, alpha, float(rng.uniform(0, 1)), float(rng.uniform(0.6, 1.4)), float(rng.uniform(0, 1)))
        )
    return shapes


def _draw_particles(img: Image.Image, shapes: list[_Particle], t: float, rising: bool) -> None:
    w, h = img.size
    for rgb, alpha, x, speed, phase in shapes:
        y = (phase + t * speed) % 1.0
        y = 1.0 - y if rising else y
        img.paste(rgb, (int(x * w), int(y * (h + rgb.height)) - rgb.height), alpha)


def render_effects(job: RenderJob) -> list[RenderedFile]:
    req = job.request
    scene = req.get("effect_scene") or ""
    inp = req.get("input") or {}
    model = inp.get("model_name") or (
        "kling-v1" if scene in ("hug", "kiss", "heart_gesture") else "kling-v1-6"
    )
    mode = inp.get("mode") or "std"
    seconds = requested_seconds(inp.get("duration"))
    rng = rng_for(job.seed, "effect")
    colors = cv.palette(rng_for(job.seed, "palette"))
    if job.inputs.get("images"):
        cls = video_class(model, mode)
        geo = Geometry(1920 if cls == 1080 else 1280, cls, video_fps(model, image_driven=True))
        frames = frame_count(seconds, geo.fps)
        gen = _dual_effect(scene, [open_image(b) for b in job.inputs["images"]], geo, frames, colors, rng)
    else:
        img = open_image(job.inputs["image"])
        geo = image_geometry({"model_name": model, "mode": mode}, img.size)
        frames = frame_count(seconds, geo.fps)
        gen = _single_effect(
            effect_kind(scene),
            img.resize((geo.width, geo.height), Image.Resampling.BILINEAR),
            frames,
            colors,
            rng,
        )
    return [_video(job, gen, geo.width, geo.height, geo.fps, None)]


def _single_effect(
    kind: str, still: Image.Image, frames: int, colors: list[cv.Color], rng: np.random.Generator
) -> Iterator[Frame]:
    size = still.size
    world = padded_canvas(still)
    soft = np.asarray(still.filter(ImageFilter.GaussianBlur(max(2, min(size) // 60))))
    base = np.asarray(still)
    shapes = _particles(rng, colors, size, 24, heart=False) if kind in ("bloom", "rain") else []
    for i in range(frames):
        t = i / max(1, frames - 1)
        wave = math.sin(2 * math.pi * 2 * t)
        if kind == "dizzy":
            img = view(world, size, (0.0, 0.0, 1.2, 18 * wave))
        elif kind == "squish":
            s = 1 - 0.3 * abs(wave)
            body = still.resize(
                (int(size[0] * (1 + 0.15 * abs(wave))), max(2, int(size[1] * s))), Image.Resampling.BILINEAR
            )
            img = Image.fromarray(soft)
            img.paste(body, ((size[0] - body.width) // 2, size[1] - body.height))
        elif kind == "expansion":
            img = view(world, size, (0.0, 0.0, 1.0 + 0.7 * ease(t), 0.0))
        elif kind == "spin":
            img = view(world, size, (0.12 * wave, 0.0, 1.15, 6 * math.sin(2 * math.pi * t)))
        elif kind == "fuzzy":
            img = Image.fromarray(blend(base, soft, 0.5 + 0.5 * wave))
        else:  # bloom, rain: particles over a gently glowing frame
            img = Image.fromarray(blend(base, soft, 0.25 * (1 + wave)))
        if shapes:
            _draw_particles(img, shapes, t, rising=kind == "bloom")
        yield img


def _dual_effect(
    scene: str,
    people: list[Image.Image],
    geo: Geometry,
    frames: int,
    colors: list[cv.Color],
    rng: np.random.Generator,
) -> Iterator[Frame]:
    size = (geo.width, geo.height)
    backdrop = Image.fromarray(cv.gradient(geo.width, geo.height, colors[0], colors[2]))
    w, h = size
    left, lpos = place(people[0], (0, int(h * 0.1), w // 2, h))
    right, rpos = place(people[1], (w // 2, int(h * 0.1), w, h))
    lalpha, ralpha = key_light_background(left), key_light_background(right)
    hearts = _particles(rng, colors, size, 16, heart=True) if "fight" not in scene else []
    for i in range(frames):
        t = i / max(1, frames - 1)
        img = backdrop.copy()
        if "fight" in scene:
            shift, bob = int(w * 0.04 * math.sin(2 * math.pi * 6 * t)), 0
        elif "cheers" in scene:
            shift, bob = int(w * 0.08 * ease(t)), int(h * 0.03 * math.sin(2 * math.pi * 3 * t))
        else:  # hug, kiss, heart gesture: come together
            shift, bob = int(w * 0.16 * ease(t)), 0
        img.paste(left, (lpos[0] + shift, lpos[1] + bob), lalpha)
        img.paste(right, (rpos[0] - shift, rpos[1] - bob), ralpha)
        if hearts:
            _draw_particles(img, hearts, t, rising=True)
        yield img


def render_multi_elements(job: RenderJob) -> list[RenderedFile]:
    req = job.request
    video = job.inputs["video"]
    src = inspect_video(video)
    size = (src.width, src.height)
    mode = req.get("edit_mode") or "addition"
    selections = job.params.get("selections") or []
    images = [open_image(b) for b in job.inputs.get("image_list") or []]
    audio = fit_audio(read_audio(video), samples_for(src.frames, src.fps)) if src.has_audio else None

    if mode == "addition":
        w, h = size
        boxes = [
            (int(w * 0.05), int(h * 0.35), int(w * 0.45), h),
            (int(w * 0.55), int(h * 0.35), int(w * 0.95), h),
        ]
        items = []
        for img, box in zip(images, boxes, strict=False):
            scaled, pos = place(img, box)
            items.append((scaled, key_light_background(scaled), pos))

        def gen() -> Iterator[Frame]:
            for i, frame in enumerate(iter_frames(video, size)):
                out = Image.fromarray(frame)
                for k, (scaled, alpha, (x, y)) in enumerate(items):
                    bob = int(h * 0.015 * math.sin(2 * math.pi * (i / float(src.fps)) * 0.8 + k))
                    out.paste(scaled, (x, y + bob), alpha)
                yield out
    else:
        if not selections:
            raise TaskFailure(f"session_id: {mode} needs at least one selected region (add-selection)")
        swap = images[0] if mode == "swap" and images else None

        def gen() -> Iterator[Frame]:
            for frame, mask in track(iter_frames(video, size), selections):
                if swap is None:
                    yield fill_region(frame, mask)
                    continue
                cut = cutout(frame, mask)
                if cut is None:
                    yield frame
                    continue
                _, _, (x0, y0) = cut
                region_w, region_h = cut[0].size
                patch = np.asarray(cv.cover(swap, (region_w, region_h)))
                out = frame.copy()
                sub = mask[y0 : y0 + region_h, x0 : x0 + region_w]
                out[y0 : y0 + region_h, x0 : x0 + region_w][sub] = patch[sub]
                yield out

    return [_video(job, gen(), src.width, src.height, src.fps, audio)]


def render_video_to_audio(job: RenderJob) -> list[RenderedFile]:
    from .audio_families import write_audio_pair

    video = job.inputs["video"]
    src = inspect_video(video)
    req = job.request
    rng = rng_for(job.seed, "soundtrack", req.get("sound_effect_prompt") or "", req.get("bgm_prompt") or "")
    audio = soundtrack(rng, samples_for(src.frames, src.fps), asmr=bool(req.get("asmr_mode")))
    files = [_video(job, iter_frames(video, (src.width, src.height)), src.width, src.height, src.fps, audio)]
    return files + write_audio_pair(job, audio)
