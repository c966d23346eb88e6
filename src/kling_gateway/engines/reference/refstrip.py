"""Reference pictures (images, elements) shown on a video as a strip of thumbnails along the
top left, as omni-video, image2video with ``element_list`` and their tests read them."""

from __future__ import annotations

from PIL import Image

from .overlay import Overlay
from .sizing import even

STRIP_HEIGHT = 0.2  # thumbnail height / frame height


def strip_boxes(
    count: int, sizes: list[tuple[int, int]], frame: tuple[int, int]
) -> list[tuple[int, int, int, int]]:
    """Where :func:`strip` puts each thumbnail (x0, y0, x1, y1); tests read the frames there."""
    w, h = frame
    th, margin = even(int(h * STRIP_HEIGHT)), even(max(2, int(h * 0.03)))
    boxes, x = [], margin
    for iw, ih in sizes[:count]:
        tw = even(int(th * iw / ih))
        if x + tw > w:
            break
        boxes.append((x, margin, x + tw, margin + th))
        x += tw + margin
    return boxes


def strip(images: list[Image.Image], size: tuple[int, int]) -> list[tuple[Overlay, tuple[int, int]]]:
    """Thumbnails of ``images`` in a row along the top left, ready to paste on every frame."""
    boxes = strip_boxes(len(images), [img.size for img in images], size)
    placed = []
    for img, (x0, y0, x1, y1) in zip(images, boxes, strict=False):
        thumb = img.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR)
        placed.append((Overlay(thumb, Image.new("L", thumb.size, 255)), (x0, y0)))
    return placed
