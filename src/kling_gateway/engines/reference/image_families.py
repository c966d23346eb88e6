"""Renderers for images/generations and images/kolors-virtual-try-on (PNG results)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from . import canvas as cv
from .compose import bbox, blend, key_light_background, place
from .encode import open_image, write_png
from .jobs import RenderedFile, RenderJob
from .seeding import rng_for
from .sizing import IMAGE_SIZES


def _png(job: RenderJob, img: Image.Image, index: int, role: str = "image") -> RenderedFile:
    name = f"image_{index}.png"
    path = Path(job.out_dir) / name
    write_png(path, img)
    return RenderedFile(role, name, str(path), "image/png", index=index)


def render_generations(job: RenderJob) -> list[RenderedFile]:
    req = job.request
    table = IMAGE_SIZES.get(req.get("resolution") or "1k", IMAGE_SIZES["1k"])
    size = table.get(req.get("aspect_ratio") or "16:9", table["16:9"])
    n = max(1, min(9, int(req.get("n") or 1)))
    reference = cv.cover(open_image(job.inputs["image"]), size) if job.inputs.get("image") else None
    given = req.get("image_fidelity")
    fidelity = float(given) if given is not None else 0.5
    out = []
    for index in range(n):
        rng = rng_for(job.seed, "image", index)
        colors = cv.palette(rng, req.get("negative_prompt") or "")
        img = cv.scene(size[0], size[1], rng, colors)
        if reference is not None:
            styled = cv.stylize(reference, rng, colors)
            img = Image.fromarray(
                blend(np.asarray(img), np.asarray(styled), 0.35 + 0.6 * max(0.0, min(1.0, fidelity)))
            )
        cv.caption(img, req.get("prompt") or "", scale=0.035)
        out.append(_png(job, img, index))
    return out


def render_try_on(job: RenderJob) -> list[RenderedFile]:
    human = open_image(job.inputs["human_image"])
    cloth = open_image(job.inputs["cloth_image"])
    w, h = human.size
    person = np.asarray(key_light_background(human)) > 127
    px0, py0, px1, py1 = bbox(person) or (0, 0, w, h)
    pw, ph = px1 - px0, py1 - py0
    torso = (px0 + int(pw * 0.18), py0 + int(ph * 0.2), px1 - int(pw * 0.18), py0 + int(ph * 0.62))
    garment_alpha = key_light_background(cloth)
    box = garment_alpha.getbbox() or (0, 0, cloth.width, cloth.height)
    garment, gpos = place(cloth.crop(box), torso)
    alpha = (
        garment_alpha.crop(box)
        .resize(garment.size, Image.Resampling.BILINEAR)
        .filter(ImageFilter.GaussianBlur(1))
    )
    # keep the body's light and shade on the fabric
    shade = np.asarray(
        human.crop((gpos[0], gpos[1], gpos[0] + garment.width, gpos[1] + garment.height)).convert("L"),
        np.float32,
    )
    shade = 0.65 + 0.35 * shade / max(1.0, float(shade.mean()))
    fabric = np.clip(np.asarray(garment, np.float32) * shade[..., None], 0, 255).astype(np.uint8)
    out = human.copy()
    out.paste(Image.fromarray(fabric), gpos, alpha)
    return [_png(job, out, 0)]
