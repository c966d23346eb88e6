"""Renderers for omni-image, multi-image2image and expand (PNG results).

Omni-image shows its reference images in a row over a seeded scene; each image of a series is
one step further in the scene (they differ). Multi-image2image places the subjects side by
side on the scene image, tinted toward the style image. Expand pastes the original unchanged on
a canvas grown by exactly the asked ratios, the new border grown from the original's edges.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from . import canvas as cv
from .compose import blend, key_light_background, place
from .encode import open_image
from .image_families import _png
from .jobs import RenderedFile, RenderJob
from .seeding import rng_for
from .sizing import IMAGE_SIZES


def image_size(resolution: str | None, aspect: str | None, reference: Image.Image | None) -> tuple[int, int]:
    """The output size: the resolution's table entry for ``aspect``; ``auto`` (or none) follows
    the first reference image's shape at that resolution's 1:1 pixel count."""
    table = IMAGE_SIZES.get(resolution or "1k", IMAGE_SIZES["1k"])
    if aspect in table:
        return table[aspect]
    if reference is None:
        return table["1:1"]
    side = table["1:1"][0]
    ratio = reference.width / reference.height
    w = int(round(side * ratio**0.5 / 16)) * 16
    h = int(round(side / ratio**0.5 / 16)) * 16
    return max(16, w), max(16, h)


def _reference_row(img: Image.Image, refs: list[Image.Image]) -> None:
    """Paste the references as a row of thumbnails along the top (in place)."""
    if not refs:
        return
    w, h = img.size
    margin = max(4, h // 40)
    cell = (w - margin * (len(refs) + 1)) // len(refs)
    for i, ref in enumerate(refs):
        x0 = margin + i * (cell + margin)
        thumb, pos = place(ref, (x0, margin, x0 + cell, margin + h // 4))
        img.paste(thumb, pos)


def render_omni_image(job: RenderJob) -> list[RenderedFile]:
    req = job.request
    refs = [open_image(b) for b in job.inputs.get("image_list") or []]
    size = image_size(req.get("resolution"), req.get("aspect_ratio"), refs[0] if refs else None)
    series = req.get("result_type") == "series"
    amount = req.get("series_amount")
    count = (int(amount) if isinstance(amount, int) else 4) if series else max(1, int(req.get("n") or 1))
    files = []
    world = cv.scene(
        size[0] * 2, size[1], rng_for(job.seed, "omni-scene"), cv.palette(rng_for(job.seed, "p"))
    )
    for index in range(count):
        if series:  # the same scene, one step further each time
            x = int(index * size[0] / max(1, count - 1))
            img = world.crop((x, 0, x + size[0], size[1]))
        else:
            rng = rng_for(job.seed, "image", index)
            img = cv.scene(size[0], size[1], rng, cv.palette(rng))
        _reference_row(img, refs)
        cv.caption(img, req.get("prompt") or "", scale=0.035)
        files.append(_png(job, img, index, "series" if series else "image"))
    return files


def render_multi_image2image(job: RenderJob) -> list[RenderedFile]:
    req = job.request
    size = IMAGE_SIZES["1k"].get(req.get("aspect_ratio") or "16:9", IMAGE_SIZES["1k"]["16:9"])
    subjects = [open_image(b) for b in job.inputs.get("subjects") or []]
    scene = job.inputs.get("scene_image")
    style = job.inputs.get("style_image")
    out = []
    for index in range(max(1, int(req.get("n") or 1))):
        rng = rng_for(job.seed, "image", index)
        colors = cv.palette(rng)
        img = cv.cover(open_image(scene), size) if scene else cv.scene(size[0], size[1], rng, colors)
        w, h = size
        cell = w // max(1, len(subjects))
        for k, subject in enumerate(subjects):
            scaled, pos = place(subject, (k * cell + w // 40, h // 3, (k + 1) * cell - w // 40, h - h // 20))
            img.paste(scaled, pos, key_light_background(scaled))
        if style:
            styled = cv.stylize(cv.cover(open_image(style), size), rng, colors)
            img = Image.fromarray(blend(np.asarray(img), np.asarray(styled), 0.25))
        if req.get("prompt"):
            cv.caption(img, req["prompt"], scale=0.035)
        out.append(_png(job, img, index))
    return out


def expanded_box(size: tuple[int, int], req: dict[str, object]) -> tuple[tuple[int, int], tuple[int, int]]:
    """(canvas size, where the original goes) for the asked ratios of each side."""
    w, h = size

    def ratio(name: str) -> float:
        value = req.get(f"{name}_expansion_ratio")
        return float(value) if isinstance(value, int | float) else 0.0

    left, right = int(round(w * ratio("left"))), int(round(w * ratio("right")))
    up, down = int(round(h * ratio("up"))), int(round(h * ratio("down")))
    return (left + w + right, up + h + down), (left, up)


def render_expand(job: RenderJob) -> list[RenderedFile]:
    original = open_image(job.inputs["image"])
    (cw, ch), (x0, y0) = expanded_box(original.size, job.request)
    w, h = original.size
    arr = np.asarray(original)
    # grow the border from the edges: each new pixel repeats the nearest original pixel
    ys = np.clip(np.arange(ch) - y0, 0, h - 1)
    xs = np.clip(np.arange(cw) - x0, 0, w - 1)
    grown = Image.fromarray(arr[ys][:, xs])
    out = []
    for index in range(max(1, int(str(job.request.get("n") or 1)))):
        rng = rng_for(job.seed, "expand", index)
        soft = grown.filter(ImageFilter.GaussianBlur(max(2, min(cw, ch) // 50)))
        tint = Image.new("RGB", (cw, ch), cv.palette(rng)[0])
        img = Image.blend(soft, tint, float(rng.uniform(0.1, 0.3)))
        img.paste(original, (x0, y0))  # the original pixels, unchanged, in place
        out.append(_png(job, img, index))
    return out
