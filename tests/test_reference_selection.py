"""Multi-elements selection helpers: analyse, segment (real masks), RLE, preview."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kling_gateway.engines.reference import selection
from kling_gateway.engines.reference.encode import write_mp4
from kling_gateway.errors import TaskFailure
from kling_gateway.media.probe import count_video_frames, probe_av


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> bytes:
    """320x240 at 30 fps, 45 frames: green backdrop, red block drifting right."""
    path = Path(tmp_path_factory.mktemp("sel")) / "src.mp4"

    def gen():
        for i in range(45):
            arr = np.full((240, 320, 3), (40, 120, 60), np.uint8)
            arr[80:140, 80 + i : 150 + i] = (220, 30, 30)
            yield arr

    write_mp4(path, gen(), 320, 240, 30)
    return path.read_bytes()


def test_analyze_reports_facts_and_normalizes(video):
    facts = selection.analyze(video)
    assert facts["fps"] == 30.0 and facts["total_frame"] == 45
    assert (facts["width"], facts["height"]) == (320, 240)
    assert facts["original_duration"] == 1500
    assert probe_av(facts["normalized_video"]).video_codec == "h264"
    assert count_video_frames(facts["normalized_video"]) == 45
    with pytest.raises(TaskFailure, match="^video: duration 1.5 s"):
        selection.analyze(video, strict=True)
    with pytest.raises(TaskFailure, match="^video"):
        selection.analyze(b"not a video")


def test_segment_masks_the_clicked_object(video):
    [obj] = selection.segment(video, 0, [{"x": 0.35, "y": 0.45}])  # inside the red block
    assert obj["rle_mask"]["size"] == [240, 320] and obj["png_mask"]["size"] == [240, 320]
    mask = selection.rle_decode(obj["rle_mask"])
    png = np.asarray(Image.open(io.BytesIO(base64.b64decode(obj["png_mask"]["base64"])))) > 127
    assert np.array_equal(mask, png)
    assert mask[int(0.45 * 240), int(0.35 * 320)]
    assert 0.03 < mask.mean() < 0.2  # about the block (70x60 of 320x240), not the frame
    ys, xs = np.nonzero(mask)
    assert 70 <= xs.min() and xs.max() <= 160 and 70 <= ys.min() and ys.max() <= 150


def test_segment_on_backdrop_is_bounded(video):
    [obj] = selection.segment(video, 10, [{"x": 0.9, "y": 0.9}])
    mask = selection.rle_decode(obj["rle_mask"])
    assert mask[int(0.9 * 240), int(0.9 * 320)] and mask.mean() < 0.5


def test_rle_roundtrip_and_known_encoding():
    mask = np.zeros((4, 3), bool)
    mask[1:3, 1] = True
    rle = selection.rle_encode(mask)
    assert np.array_equal(selection.rle_decode(rle), mask)
    assert np.array_equal(selection.rle_decode({"size": [4, 3], "counts": [5, 2, 5]}), mask)
    rng = np.random.default_rng(3)
    big = rng.random((50, 70)) > 0.6
    assert np.array_equal(selection.rle_decode(selection.rle_encode(big)), big)


def test_preview_highlights_selection(video):
    clip, cover, tracking = selection.preview(video, [{"frame_index": 0, "points": [{"x": 0.35, "y": 0.45}]}])
    assert count_video_frames(clip) == 45 and count_video_frames(tracking) == 45
    cover_img = np.asarray(Image.open(io.BytesIO(cover)).convert("RGB")).astype(int)
    assert cover_img.shape == (240, 320, 3)
    inside, outside = cover_img[110, 110], cover_img[200, 300]
    assert inside[2] > 80 and outside.sum() < np.array([40, 120, 60]).sum()  # tinted vs dimmed
