"""Still pictures from a seed: palettes, generated scenes, captions, stylised references."""

from __future__ import annotations

import colorsys
import hashlib
import textwrap

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

Color = tuple[int, int, int]


def palette(rng: np.random.Generator, negative_prompt: str = "", size: int = 5) -> list[Color]:
    """Harmonious colours around a seeded hue; a negative prompt pushes the hue away."""
    hue = float(rng.random())
    if negative_prompt:
        shift = int.from_bytes(hashlib.sha256(negative_prompt.encode()).digest()[:2], "big") / 65535
        hue = (hue + 0.33 + 0.34 * shift) % 1.0
    offsets = [0.0, 0.08, 0.5, 0.58, 0.25]
    colors = []
    for i in range(size):
        h = (hue + offsets[i % len(offsets)] + 0.03 * float(rng.standard_normal())) % 1.0
        s = 0.45 + 0.5 * float(rng.random())
        v = 0.35 + 0.6 * float(rng.random())
        r, g, b = colorsys.hsv_to_rgb(h, s, v)
        colors.append((int(r * 255), int(g * 255), int(b * 255)))
    return colors


def gradient(width: int, height: int, top: Color, bottom: Color, angle: float = 0.0) -> np.ndarray:
    """A linear gradient (H,W,3) uint8, tilted by ``angle`` radians (drawn small, scaled up)."""
    sw, sh = max(2, width // 8), max(2, height // 8)
    ys = np.linspace(0.0, 1.0, sh, dtype=np.float32)[:, None]
    xs = np.linspace(0.0, 1.0, sw, dtype=np.float32)[None, :]
    t = np.clip(ys * np.cos(angle) + xs * np.sin(angle), 0, 1)[..., None]
    a = np.array(top, np.float32)
    b = np.array(bottom, np.float32)
    small = Image.fromarray((a + (b - a) * t).astype(np.uint8))
    return np.asarray(small.resize((width, height), Image.Resampling.BILINEAR))


def scene(width: int, height: int, rng: np.random.Generator, colors: list[Color]) -> Image.Image:
    """A seeded abstract scene: gradient sky, soft blobs and a few crisp shapes."""
    base = Image.fromarray(gradient(width, height, colors[0], colors[2], float(rng.uniform(-0.6, 0.6))))
    # soft blobs drawn small and scaled up: cheap blur
    small = base.resize((max(8, width // 8), max(8, height // 8)), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(small, "RGBA")
    sw, sh = small.size
    for _ in range(int(rng.integers(5, 9))):
        c = colors[int(rng.integers(0, len(colors)))]
        x, y = float(rng.uniform(0, sw)), float(rng.uniform(0, sh))
        r = float(rng.uniform(0.08, 0.3)) * min(sw, sh)
        draw.ellipse((x - r, y - r, x + r * 1.4, y + r), fill=(*c, int(rng.integers(90, 200))))
    small = small.filter(ImageFilter.GaussianBlur(max(1, min(sw, sh) // 20)))
    img = small.resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img, "RGBA")
    unit = min(width, height)
    for _ in range(int(rng.integers(4, 8))):
        c = colors[int(rng.integers(0, len(colors)))]
        x, y = float(rng.uniform(0.05, 0.95)) * width, float(rng.uniform(0.1, 0.95)) * height
        r = float(rng.uniform(0.03, 0.12)) * unit
        kind = int(rng.integers(0, 3))
        fill = (*c, 230)
        if kind == 0:
            draw.ellipse(
                (x - r, y - r, x + r, y + r),
                fill=fill,
                outline=(255, 255, 255, 120),
                width=max(1, unit // 300),
            )
        elif kind == 1:
            draw.rectangle((x - r, y - r * 0.7, x + r, y + r * 0.7), fill=fill)
        else:
            draw.polygon([(x, y - r), (x + r, y + r * 0.8), (x - r, y + r * 0.8)], fill=fill)
    # a ground line so camera motion reads clearly
    horizon = int(height * float(rng.uniform(0.62, 0.78)))
    draw.rectangle((0, horizon, width, height), fill=(*colors[1], 110))
    for i in range(0, width, max(8, unit // 12)):
        draw.line(
            (i, horizon, i + (i - width / 2) * 0.6, height),
            fill=(255, 255, 255, 60),
            width=max(1, unit // 400),
        )
    return img


def caption(img: Image.Image, text: str, *, position: str = "bottom", scale: float = 0.045) -> Image.Image:
    """Draw ``text`` on a translucent band (wrapped, at most three lines). Returns the same image."""
    text = " ".join(text.split())
    if not text:
        return img
    w, h = img.size
    size = max(10, int(min(w, h) * scale))
    font = ImageFont.load_default(size=size)
    chars = max(8, int(w / (size * 0.55)))
    lines = textwrap.wrap(text, chars)[:3]
    if len(textwrap.wrap(text, chars)) > 3:
        lines[-1] = lines[-1][: max(1, chars - 1)] + "…"
    line_h = int(size * 1.25)
    band = line_h * len(lines) + size // 2
    top = h - band - size // 2 if position == "bottom" else size // 2
    draw = ImageDraw.Draw(img, "RGBA")
    draw.rectangle((0, top, w, top + band), fill=(0, 0, 0, 110))
    for i, line in enumerate(lines):
        draw.text((size // 2, top + size // 4 + i * line_h), line, font=font, fill=(255, 255, 255, 235))
    return img


def cover(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale and centre-crop to fill ``size``."""
    return ImageOps.fit(img, size, Image.Resampling.BILINEAR)


def stylize(img: Image.Image, rng: np.random.Generator, colors: list[Color]) -> Image.Image:
    """A painterly variant of a reference: posterised, tinted toward the palette, edges kept."""
    levels = int(rng.integers(3, 6))
    poster = ImageOps.posterize(img, max(1, 8 - levels))
    tint = Image.new("RGB", img.size, colors[int(rng.integers(0, len(colors)))])
    out = Image.blend(poster, tint, float(rng.uniform(0.15, 0.35)))
    edges = img.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 40 else 0)
    return Image.composite(Image.new("RGB", img.size, (20, 20, 20)), out, edges)


def sprite(radius: int, color: Color) -> tuple[Image.Image, Image.Image]:
    """A small shaded disc and its alpha mask, pasted per frame for motion within a scene."""
    d = radius * 2
    yy, xx = np.mgrid[0:d, 0:d].astype(np.float32)
    dist = np.hypot(xx - radius + radius * 0.3, yy - radius + radius * 0.3) / radius
    shade = np.clip(1.25 - 0.6 * dist, 0.3, 1.25)[..., None]
    rgb = np.clip(np.array(color, np.float32) * shade, 0, 255).astype(np.uint8)
    alpha = (np.hypot(xx - radius + 0.5, yy - radius + 0.5) < radius).astype(np.uint8) * 255
    return Image.fromarray(rgb), Image.fromarray(alpha)
