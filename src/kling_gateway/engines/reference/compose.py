"""Compositing helpers shared by the families: masks, cut-outs, fills, blends."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter


def load_mask(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """A mask image as a boolean (H,W) array at ``size``; white (or opaque, for RGBA) = selected."""
    with Image.open(io.BytesIO(data)) as img:
        alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else None
        if alpha is not None and int(np.asarray(alpha).min()) < 250:
            gray = alpha
        else:
            gray = img.convert("L")
        gray = gray.resize(size, Image.Resampling.NEAREST)
    return np.asarray(gray) > 127


def fill_region(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Paint over ``mask`` from its surroundings (normalised blur at low resolution)."""
    if not mask.any():
        return frame
    h, w = mask.shape
    small = (max(4, w // 8), max(4, h // 8))
    keep = (~mask).astype(np.float32)
    weight = Image.fromarray((keep * 255).astype(np.uint8)).resize(small, Image.Resampling.BILINEAR)
    masked = Image.fromarray((frame * keep[..., None]).astype(np.uint8)).resize(
        small, Image.Resampling.BILINEAR
    )
    wsum = np.zeros(small[::-1], np.float32)
    csum = np.zeros((*small[::-1], 3), np.float32)
    for radius in (2, 6, 16):  # widen until every hole pixel has a source
        wb = np.asarray(weight.filter(ImageFilter.GaussianBlur(radius)), np.float32)
        cb = np.asarray(masked.filter(ImageFilter.GaussianBlur(radius)), np.float32)
        take = (wsum < 1.0) & (wb > 1.0)
        wsum[take], csum[take] = wb[take], cb[take]
    wsum = np.maximum(wsum, 1.0)
    filled = Image.fromarray(np.clip(csum / wsum[..., None] * 255, 0, 255).astype(np.uint8))
    out = np.asarray(filled.resize((w, h), Image.Resampling.BILINEAR))
    result = frame.copy()
    result[mask] = out[mask]
    return result


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the selected pixels, exclusive ends; None when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def cutout(frame: np.ndarray, mask: np.ndarray) -> tuple[Image.Image, Image.Image, tuple[int, int]] | None:
    """The masked pixels as (rgb, alpha, top-left) cropped to their bounding box."""
    box = bbox(mask)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    rgb = Image.fromarray(frame[y0:y1, x0:x1])
    alpha = Image.fromarray((mask[y0:y1, x0:x1] * 255).astype(np.uint8))
    return rgb, alpha, (x0, y0)


def key_light_background(img: Image.Image, threshold: float = 40.0) -> Image.Image:
    """An alpha mask of what differs from the image's border colour (product shots on white)."""
    arr = np.asarray(img.convert("RGB"), np.float32)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    bg = np.median(border, axis=0)
    dist = np.linalg.norm(arr - bg, axis=2)
    alpha = np.clip((dist - threshold * 0.5) / threshold * 255, 0, 255).astype(np.uint8)
    mask = Image.fromarray(alpha).filter(ImageFilter.MedianFilter(5))
    if np.asarray(mask).mean() < 2:  # nothing stood out: take the whole picture
        return Image.new("L", img.size, 255)
    return mask


def blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    if alpha <= 0:
        return a
    if alpha >= 1:
        return b
    return (a.astype(np.float32) * (1 - alpha) + b.astype(np.float32) * alpha).astype(np.uint8)


def place(
    img: Image.Image, box: tuple[int, int, int, int], *, fit: str = "contain"
) -> tuple[Image.Image, tuple[int, int]]:
    """Scale ``img`` into box (x0,y0,x1,y1) keeping its aspect; returns it and its top-left."""
    x0, y0, x1, y1 = box
    bw, bh = max(1, x1 - x0), max(1, y1 - y0)
    scale = (min if fit == "contain" else max)(bw / img.width, bh / img.height)
    w, h = max(1, int(img.width * scale)), max(1, int(img.height * scale))
    return img.resize((w, h), Image.Resampling.BILINEAR), (x0 + (bw - w) // 2, y0 + (bh - h) // 2)
