"""Camera moves (spec §8.1.1 camera_control) and motion-brush trajectories.

A camera is rendered by taking an affine view of a canvas larger than the frame (the
scene, or the input image padded with a mirrored border), so each frame costs one
nearest-neighbour resample in C.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

CONFIG_KEYS = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
PRESETS = ("down_back", "forward_up", "right_turn_forward", "left_turn_forward")
MARGIN = 1.6  # canvas size / frame size


def ease(t: float) -> float:
    return t * t * (3 - 2 * t)


@dataclass(frozen=True)
class Camera:
    """End-of-clip displacement; intermediate frames are eased in between.

    ``dx``/``dy`` are fractions of the frame size (+x right, +y down in image terms),
    ``zoom`` the final scale (>1 closer), ``roll`` degrees clockwise.
    """

    dx: float = 0.0
    dy: float = 0.0
    zoom: float = 1.0
    roll: float = 0.0

    def at(self, t: float) -> tuple[float, float, float, float]:
        e = ease(min(1.0, max(0.0, t)))
        return self.dx * e, self.dy * e, 1.0 + (self.zoom - 1.0) * e, self.roll * e


DEFAULT_CAMERA = Camera(dx=0.03, dy=0.0, zoom=1.1)


def camera_from_request(control: dict[str, Any] | None, default: Camera = DEFAULT_CAMERA) -> Camera:
    """Translate a ``camera_control`` object into a :class:`Camera`."""
    if not control:
        return default
    kind = control.get("type") or "simple"
    if kind == "down_back":
        return Camera(dy=0.18, zoom=0.72)
    if kind == "forward_up":
        return Camera(dy=-0.18, zoom=1.45)
    if kind == "right_turn_forward":
        return Camera(dx=0.25, zoom=1.3, roll=3.0)
    if kind == "left_turn_forward":
        return Camera(dx=-0.25, zoom=1.3, roll=-3.0)
    config = control.get("config") or {}
    v = {k: max(-10.0, min(10.0, float(config.get(k) or 0.0))) / 10.0 for k in CONFIG_KEYS}
    zoom = 1.0 - 0.35 * v["zoom"] if v["zoom"] > 0 else 1.0 + 0.6 * -v["zoom"]
    return Camera(
        dx=0.25 * v["horizontal"] + 0.3 * v["pan"],
        dy=-0.25 * v["vertical"] - 0.3 * v["tilt"],
        zoom=zoom * (1.0 + 0.06 * (abs(v["pan"]) + abs(v["tilt"]))),
        roll=25.0 * v["roll"],
    )


def padded_canvas(img: Image.Image, margin: float = MARGIN) -> Image.Image:
    """The image with a mirrored border so a moving camera never sees past its edge."""
    arr = np.asarray(img)
    h, w = arr.shape[:2]
    ph, pw = int(h * (margin - 1) / 2) + 1, int(w * (margin - 1) / 2) + 1
    ph, pw = min(ph, h - 1), min(pw, w - 1)
    padded = np.pad(arr, ((ph, ph), (pw, pw), (0, 0)), mode="symmetric")
    return Image.fromarray(padded)


def view(canvas: Image.Image, size: tuple[int, int], state: tuple[float, float, float, float]) -> Image.Image:
    """The frame a camera in ``state`` (dx, dy, zoom, roll) sees of a centred canvas."""
    dx, dy, zoom, roll = state
    w, h = size
    cw, ch = canvas.size
    half_w, half_h = w / (2 * zoom), h / (2 * zoom)
    cx = min(max(cw / 2 + dx * w, half_w), cw - half_w) if cw > 2 * half_w else cw / 2
    cy = min(max(ch / 2 + dy * h, half_h), ch - half_h) if ch > 2 * half_h else ch / 2
    theta = math.radians(roll)
    a, b = math.cos(theta) / zoom, -math.sin(theta) / zoom
    d, e = math.sin(theta) / zoom, math.cos(theta) / zoom
    coeffs = (a, b, cx - a * w / 2 - b * h / 2, d, e, cy - d * w / 2 - e * h / 2)
    if roll == 0 and zoom == 1.0:
        x0, y0 = int(round(coeffs[2])), int(round(coeffs[5]))
        return canvas.crop((x0, y0, x0 + w, y0 + h))
    return canvas.transform(size, Image.Transform.AFFINE, coeffs, resample=Image.Resampling.NEAREST)


def camera_frames(
    canvas: Image.Image, size: tuple[int, int], camera: Camera, frames: int
) -> Iterator[Image.Image]:
    for i in range(frames):
        yield view(canvas, size, camera.at(i / max(1, frames - 1)))


def trajectory_offsets(
    points: list[dict[str, Any]], image_size: tuple[int, int], out_size: tuple[int, int], frames: int
) -> list[tuple[int, int]]:
    """Per-frame (dx, dy) in output pixels along a trajectory given with a bottom-left origin."""
    iw, ih = image_size
    ow, oh = out_size
    pts = np.array([(float(p["x"]) * ow / iw, (ih - float(p["y"])) * oh / ih) for p in points], np.float64)
    if len(pts) < 2:
        return [(0, 0)] * frames
    seg = np.hypot(*np.diff(pts, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = cum[-1] or 1.0
    out = []
    for i in range(frames):
        s = total * i / max(1, frames - 1)
        x = float(np.interp(s, cum, pts[:, 0]))
        y = float(np.interp(s, cum, pts[:, 1]))
        out.append((int(round(x - pts[0, 0])), int(round(y - pts[0, 1]))))
    return out
