"""Pure rules of the reference engine: sizes, lengths, seeds, camera parsing, speed helper."""

from __future__ import annotations

import pytest

from kling_gateway.engines.reference.motion import Camera, camera_from_request, trajectory_offsets
from kling_gateway.engines.reference.seeding import request_seed
from kling_gateway.engines.reference.sizing import (
    duration_text,
    fit_budget,
    frame_count,
    image_geometry,
    text_geometry,
)


@pytest.mark.parametrize(
    ("seconds", "fps", "frames", "text"),
    [(5, 30, 153, "5.1"), (5, 24, 122, "5.1"), (10, 30, 303, "10.1"), (10, 24, 242, "10.1")],
)
def test_frame_count_like_kling(seconds, fps, frames, text):
    assert frame_count(seconds, fps) == frames
    assert duration_text(frames / fps) == text


def test_budget_fit():
    assert fit_budget(1000, 1000, 720) == (960, 960)
    assert fit_budget(1920, 1080, 720) == (1280, 720)
    assert fit_budget(1080, 1920, 1080) == (1080, 1920)
    assert image_geometry({"model_name": "kling-v1-6"}, (800, 800)).fps == 30
    assert text_geometry({"model_name": "kling-v1-6"}).fps == 24
    assert (text_geometry({}).width, text_geometry({}).height, text_geometry({}).fps) == (1280, 720, 30)


def test_seed_is_canonical():
    a = request_seed("videos/text2video", {"prompt": "x", "duration": "5"})
    assert a == request_seed("videos/text2video", {"duration": "5", "prompt": "x", "external_task_id": "e"})
    assert a != request_seed("videos/text2video", {"prompt": "y", "duration": "5"})
    assert a != request_seed("videos/image2video", {"prompt": "x", "duration": "5"})


def test_camera_parsing():
    assert camera_from_request({"type": "simple", "config": {"horizontal": 10}}).dx > 0
    assert camera_from_request({"type": "simple", "config": {"vertical": 10}}).dy < 0  # up
    assert camera_from_request({"type": "simple", "config": {"zoom": 10}}).zoom < 1  # wider
    assert camera_from_request({"type": "simple", "config": {"roll": -5}}).roll < 0
    assert camera_from_request({"type": "forward_up"}).zoom > 1
    assert camera_from_request(None) != Camera()


def test_trajectory_origin_is_bottom_left():
    offsets = trajectory_offsets([{"x": 0, "y": 0}, {"x": 100, "y": 100}], (100, 100), (200, 200), 5)
    assert offsets[0] == (0, 0) and offsets[-1] == (200, -200)


def test_bench_helper_runs():
    from kling_gateway.engines.reference.bench import render_seconds

    assert 0 < render_seconds(320, 180, 24, 0.5) < 30


@pytest.mark.parametrize(
    ("aspect", "size"), [("16:9", (3840, 2160)), ("9:16", (2160, 3840)), ("1:1", (2880, 2880))]
)
def test_4k_text_geometry_is_the_3x_4k_size(aspect: str, size: tuple[int, int]) -> None:
    geo = text_geometry({"model_name": "kling-v3", "mode": "4k", "aspect_ratio": aspect})
    assert (geo.width, geo.height, geo.fps) == (*size, 24)


def test_4k_image_geometry_keeps_the_image_aspect_at_the_4k_budget() -> None:
    geo = image_geometry({"model_name": "kling-v3", "mode": "4k"}, (640, 360))
    assert (geo.width, geo.height) == (3840, 2160)
    square = image_geometry({"model_name": "kling-v3", "mode": "4k"}, (500, 500))
    assert square.width == square.height and abs(square.width * square.height - 3840 * 2160) < 3840 * 4
