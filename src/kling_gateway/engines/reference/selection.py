"""Multi-elements selection calls (spec §8.4): analyse a source, segment clicked objects, preview.

The API calls these synchronously (in a thread) and keeps the session state itself.
Segmentation is a colour-similarity flood fill from each clicked point, done at low
resolution; tracking re-runs it on every frame at the same points.
"""

from __future__ import annotations

import base64
import io
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kling_gateway.errors import TaskFailure

from .encode import fit_audio, frame_at, inspect_video, iter_frames, read_audio, samples_for, write_mp4

SEGMENT_SIDE = 256  # working resolution of add-selection
TRACK_SIDE = 160  # working resolution when following a selection through a video
_TOLERANCE = 38.0
_HIGHLIGHT = np.array([40, 200, 255], np.float32)


def analyze(video: bytes, *, strict: bool = False) -> dict[str, Any]:
    """Facts of a source video plus a normalised H.264 copy (``normalized_video``, bytes).

    ``strict`` applies Kling's init-selection rules (2–5.5 s or 7–10.5 s, edges 720–2160 px,
    24/30/60 fps) and raises TaskFailure naming ``video``.
    """
    try:
        src = inspect_video(video)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means an unusable input
        raise TaskFailure(f"video: is not a readable video ({exc.__class__.__name__})") from None
    if src.frames == 0:
        raise TaskFailure("video: has no frames")
    if strict:
        d = src.duration
        if not (2.0 <= d <= 5.5 or 7.0 <= d <= 10.5):
            raise TaskFailure(f"video: duration {d:.1f} s is outside 2–5 s or 7–10 s")
        if min(src.width, src.height) < 720 or max(src.width, src.height) > 2160:
            raise TaskFailure(f"video: {src.width}x{src.height} is outside 720–2160 px")
        if round(float(src.fps)) not in (24, 30, 60):
            raise TaskFailure(f"video: {float(src.fps):.2f} fps is not 24, 30 or 60")
    audio = read_audio(video) if src.has_audio else None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "normalized.mp4"
        count = write_mp4(
            out,
            iter_frames(video),
            src.width,
            src.height,
            src.fps,
            fit_audio(audio, samples_for(src.frames, src.fps)) if audio is not None else None,
        )
        data = out.read_bytes()
    return {
        "fps": float(src.fps),
        "original_duration": int(round(count / float(src.fps) * 1000)),
        "width": src.width,
        "height": src.height,
        "total_frame": count,
        "normalized_video": data,
    }


def _grow(seed: np.ndarray, allowed: np.ndarray, limit: int) -> np.ndarray:
    """Geodesic dilation of ``seed`` inside ``allowed`` (4-connected) until stable."""
    region: np.ndarray = seed & allowed
    for _ in range(limit):
        grown = region.copy()
        grown[1:] |= region[:-1]
        grown[:-1] |= region[1:]
        grown[:, 1:] |= region[:, :-1]
        grown[:, :-1] |= region[:, 1:]
        grown &= allowed
        if np.array_equal(grown, region):
            break
        region = grown
    return region


def point_mask(frame: np.ndarray, x: float, y: float, *, side: int = SEGMENT_SIDE) -> np.ndarray:
    """The object under a click at (x, y) in 0..1 (y = 0 top): boolean (H, W)."""
    h, w = frame.shape[:2]
    scale = min(1.0, side / max(h, w))
    sw, sh = max(2, int(w * scale)), max(2, int(h * scale))
    small = np.asarray(Image.fromarray(frame).resize((sw, sh), Image.Resampling.BILINEAR), np.float32)
    px = min(sw - 1, max(0, int(x * sw)))
    py = min(sh - 1, max(0, int(y * sh)))
    patch = small[max(0, py - 1) : py + 2, max(0, px - 1) : px + 2].reshape(-1, 3)
    color = np.median(patch, axis=0)
    allowed = np.linalg.norm(small - color, axis=2) < _TOLERANCE
    seed = np.zeros((sh, sw), bool)
    seed[py, px] = True
    allowed[py, px] = True
    region = _grow(seed, allowed, sw + sh)
    yy, xx = np.mgrid[0:sh, 0:sw]
    dist = np.hypot(xx - px, yy - py)
    unit = min(sw, sh)
    if region.mean() > 0.5:  # clicked a backdrop: keep the neighbourhood, not the frame
        region &= dist < 0.25 * unit
    if region.sum() < 0.002 * sw * sh:  # a speck: give it a usable size
        region |= dist < 0.04 * unit
    return (
        np.asarray(Image.fromarray(region.astype(np.uint8) * 255).resize((w, h), Image.Resampling.NEAREST))
        > 127
    )


def frame_mask(frame: np.ndarray, points: Iterable[dict[str, Any]], *, side: int = TRACK_SIDE) -> np.ndarray:
    """Union of the objects under several clicks."""
    mask = np.zeros(frame.shape[:2], bool)
    for p in points:
        mask |= point_mask(frame, float(p["x"]), float(p["y"]), side=side)
    return mask


def all_points(selections: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for sel in selections for p in sel.get("points", [])]


def track(
    frames: Iterable[np.ndarray], selections: list[dict[str, Any]]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(frame, mask) for each frame, re-segmenting at the selected points."""
    points = all_points(selections)
    for frame in frames:
        yield frame, frame_mask(frame, points)


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """COCO RLE (column-major, starting with a run of zeros) with the compressed string form."""
    flat = np.asarray(mask, bool).ravel(order="F")
    if flat.size == 0:
        return {"size": list(mask.shape), "counts": ""}
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": _counts_to_string(counts)}


def _counts_to_string(counts: list[int]) -> str:
    out = []
    for i, value in enumerate(counts):
        x = value - counts[i - 2] if i > 2 else value
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_decode(rle: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`rle_encode` (accepts string or list counts)."""
    h, w = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, str):
        values: list[int] = []
        pos = 0
        while pos < len(counts):
            x, k, more = 0, 0, True
            while more:
                c = ord(counts[pos]) - 48
                x |= (c & 0x1F) << (5 * k)
                more = bool(c & 0x20)
                pos += 1
                k += 1
                if not more and c & 0x10:
                    x |= -1 << (5 * k)
            if len(values) > 2:
                x += values[-2]
            values.append(x)
        counts = values
    flat = np.zeros(h * w, bool)
    pos, val = 0, False
    for n in counts:
        flat[pos : pos + n] = val
        pos += n
        val = not val
    return flat.reshape((w, h)).T


def png_mask(mask: np.ndarray) -> dict[str, Any]:
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buf, format="PNG")
    return {
        "size": [int(mask.shape[0]), int(mask.shape[1])],
        "base64": base64.b64encode(buf.getvalue()).decode(),
    }


def segment(video: bytes, frame_index: int, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Masks of the objects under each clicked point on one frame (add-selection's ``rle_mask_list``)."""
    frame = frame_at(video, max(0, int(frame_index)))
    out = []
    for i, p in enumerate(points):
        mask = point_mask(frame, float(p["x"]), float(p["y"]))
        out.append({"object_id": i, "rle_mask": rle_encode(mask), "png_mask": png_mask(mask)})
    return out


def highlight(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The frame dimmed, with the selection tinted."""
    out = frame.astype(np.float32) * 0.55
    out[mask] = frame[mask].astype(np.float32) * 0.5 + _HIGHLIGHT * 0.5
    return out.astype(np.uint8)


def preview(video: bytes, selections: list[dict[str, Any]]) -> tuple[bytes, bytes, bytes]:
    """(preview mp4, cover png, tracking mp4): the selection highlighted and its mask per frame."""
    src = inspect_video(video)
    cover_index = int(selections[0].get("frame_index", 0)) if selections else 0
    packed: list[np.ndarray] = []  # masks kept bit-packed between the two passes
    covers: list[np.ndarray] = []

    def lit_frames() -> Iterator[np.ndarray]:
        for i, (frame, mask) in enumerate(track(iter_frames(video), selections)):
            lit = highlight(frame, mask)
            packed.append(np.packbits(mask))
            if i == cover_index or not covers:
                covers[:] = [lit]
            yield lit

    def mask_frames() -> Iterator[np.ndarray]:
        for bits in packed:
            mask = np.unpackbits(bits, count=src.width * src.height).reshape(src.height, src.width)
            yield np.repeat((mask * 255)[..., None], 3, axis=2)

    with tempfile.TemporaryDirectory() as tmp:
        pv, tv = Path(tmp) / "preview.mp4", Path(tmp) / "tracking.mp4"
        write_mp4(pv, lit_frames(), src.width, src.height, src.fps)
        write_mp4(tv, mask_frames(), src.width, src.height, src.fps)
        buf = io.BytesIO()
        cover = covers[0] if covers else np.zeros((src.height, src.width, 3), np.uint8)
        Image.fromarray(cover).save(buf, format="PNG")
        return pv.read_bytes(), buf.getvalue(), tv.read_bytes()
