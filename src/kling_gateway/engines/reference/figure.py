"""The reference engine's "figure" rule: what it calls the subject, head, face and clothes of a
picture, decided from colour contrast alone, so the same pixels always give the same answer.

* **object**: every pixel whose colour differs from the background by more than
  ``CONTRAST`` on some channel; the background is the median colour of the picture's border
  (one pixel wide). A subject covering less than ``MIN_COVER`` of the picture is no subject.
* **head**: the object's pixels in the top ``HEAD_SHARE`` of the object's bounding box.
* **face**: the head without its "hair": the head's pixels inside the central ``FACE_WIDTH``
  of the box's width and below its top ``HAIR_SHARE``.
* **cloth**: the object's pixels below the head.

This is what identify-face (a face is present in a frame when its face mask is), image-recognize
(the four masks) and the subject crops use; docs/engine.md shows the geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONTRAST = 40  # per channel, 0–255
MIN_COVER = 0.005
HEAD_SHARE = 0.4
HAIR_SHARE = 0.25  # of the head's height
FACE_WIDTH = 0.6


@dataclass(frozen=True)
class Figure:
    """Boolean masks (H, W) of one picture, and the object's bounding box (x0, y0, x1, y1)."""

    object: np.ndarray
    head: np.ndarray
    face: np.ndarray
    cloth: np.ndarray
    box: tuple[int, int, int, int] | None

    def masks(self) -> dict[str, np.ndarray]:
        """By image-recognize type."""
        return {
            "object_seg": self.object,
            "head_seg": self.head,
            "face_seg": self.face,
            "cloth_seg": self.cloth,
        }

    def head_box(self) -> tuple[int, int, int, int] | None:
        return _bbox(self.head)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def find_figure(rgb: np.ndarray) -> Figure:
    """The figure of an RGB picture (H, W, 3, uint8)."""
    h, w = rgb.shape[:2]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.int16)
    background = np.median(border, axis=0)
    distance = np.abs(rgb.astype(np.int16) - background[None, None, :]).max(axis=2)
    obj = distance > CONTRAST
    empty = np.zeros((h, w), bool)
    if obj.mean() < MIN_COVER:
        return Figure(empty, empty, empty, empty, None)
    box = _bbox(obj)
    assert box is not None
    x0, y0, x1, y1 = box
    head_end = y0 + max(1, int(round((y1 - y0) * HEAD_SHARE)))
    head = empty.copy()
    head[y0:head_end] = obj[y0:head_end]
    hair_end = y0 + int(round((head_end - y0) * HAIR_SHARE))
    margin = int(round((x1 - x0) * (1 - FACE_WIDTH) / 2))
    face = empty.copy()
    face[hair_end:head_end, x0 + margin : x1 - margin] = obj[hair_end:head_end, x0 + margin : x1 - margin]
    cloth = obj.copy()
    cloth[:head_end] = False
    return Figure(obj, head, face, cloth, box)
