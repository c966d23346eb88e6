"""Omni-video and motion-control through ReferenceEngine.run: every output decoded and measured."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kling_gateway.engines import TaskFailure
from kling_gateway.engines.reference.encode import write_mp4
from kling_gateway.engines.reference.refstrip import strip_boxes
from kling_gateway.media.probe import probe_av
from test_reference_engine import Ctx, b64, check_video, engine, frames_of, png, task, the_video

__all__ = ["engine"]  # the module-scoped engine fixture, shared

RED, GREEN, BLUE, YELLOW = (220, 30, 30), (30, 200, 60), (30, 60, 220), (230, 220, 40)


def solid(color: tuple[int, int, int], w: int = 640, h: int = 480) -> str:
    return b64(png(Image.new("RGB", (w, h), color)))


def video_file(w: int, h: int, fps: int, moving: tuple[int, int], total: int, audio: bool = False) -> bytes:
    """A grey backdrop; a white box moves only during frames ``moving[0]..moving[1]``."""
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"omni-{os.getpid()}-{w}x{h}-{total}.mp4"

    def gen():
        for i in range(total):
            arr = np.full((h, w, 3), 90, np.uint8)
            k = min(max(i, moving[0]), moving[1]) - moving[0]
            x = (w // 8 + k * 9) % (w - w // 5)
            arr[h // 3 : h // 3 + h // 4, x : x + w // 5] = 250
            yield arr

    sound = None
    if audio:
        t = np.arange(int(total / fps * 48000)) / 48000
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        sound = np.stack([tone, tone])
    write_mp4(tmp, gen(), w, h, fps, sound)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def mean_in(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    pad = 4
    return frame[y0 + pad : y1 - pad, x0 + pad : x1 - pad].reshape(-1, 3).mean(axis=0)


@pytest.fixture
def ctx(tmp_path: Path) -> Ctx:
    return Ctx(tmp_path)


async def test_omni_text_to_video_shows_reference_images(engine, ctx):
    req = {
        "prompt": "the two <<<image_1>>> <<<image_2>>> meet",
        "aspect_ratio": "9:16",
        "mode": "std",
        "duration": "4",
        "model_name": "kling-v3-omni",
        "image_list": [{"image_url": solid(RED)}, {"image_url": solid(BLUE, 480, 480)}],
    }
    item = the_video(await engine.run(task("videos/omni-video", req), ctx))
    data = ctx.get(item["url"])
    check_video(data, width=720, height=1280, requested=4, reported=item["duration"], audio=False)
    assert probe_av(data).fps == 24
    frames = frames_of(data)
    boxes = strip_boxes(2, [(640, 480), (480, 480)], (720, 1280))
    for frame in (frames[0], frames[-1]):
        assert np.abs(mean_in(frame, boxes[0]) - RED).max() < 25
        assert np.abs(mean_in(frame, boxes[1]) - BLUE).max() < 25


async def test_omni_first_and_end_frame_pro_sound(engine, ctx):
    req = {
        "prompt": "from red to green",
        "model_name": "kling-v3-omni",
        "sound": "on",
        "duration": "3",
        "image_list": [
            {"image_url": solid(RED, 1000, 500), "type": "first_frame"},
            {"image_url": solid(GREEN, 1000, 500), "type": "end_frame"},
        ],
    }
    item = the_video(await engine.run(task("videos/omni-video", req), ctx))
    data = ctx.get(item["url"])
    info = probe_av(data)
    assert info.width is not None and info.height is not None
    assert info.width / info.height == pytest.approx(2.0, rel=0.02)
    assert info.width * info.height == pytest.approx(1920 * 1080, rel=0.02)  # pro = 1080p budget
    check_video(
        data, width=info.width, height=info.height, requested=3, reported=item["duration"], audio=True
    )
    frames = frames_of(data)
    centre = (info.width // 2 - 20, info.height // 2 - 20, info.width // 2 + 20, info.height // 2 + 20)
    assert np.abs(mean_in(frames[0], centre) - RED).max() < 25
    assert np.abs(mean_in(frames[-1], centre) - GREEN).max() < 25


async def test_omni_multi_shot_cuts_follow_multi_prompt(engine, ctx):
    req = {
        "model_name": "kling-v3-omni",
        "multi_shot": True,
        "shot_type": "customize",
        "aspect_ratio": "16:9",
        "mode": "std",
        "duration": "4",
        "multi_prompt": [
            {"index": 1, "prompt": "a quiet lake", "duration": "1"},
            {"index": 2, "prompt": "a busy street", "duration": "3"},
        ],
    }
    item = the_video(await engine.run(task("videos/omni-video", req), ctx))
    data = ctx.get(item["url"])
    check_video(data, width=1280, height=720, requested=4, reported=item["duration"], audio=False)
    frames = frames_of(data)
    jumps = [float(np.abs(frames[i].astype(int) - frames[i - 1]).mean()) for i in range(1, len(frames))]
    cut = int(np.argmax(jumps)) + 1
    assert cut == 24  # the second shot starts after the first one's second
    assert jumps[cut - 1] > 5 * np.median(jumps)


async def test_omni_base_video_keeps_length_size_and_sound(engine, ctx):
    base = video_file(1280, 720, 24, (0, 80), 80, audio=True)  # 3.33 s with a tone
    req = {
        "prompt": "put <<<image_1>>> in the corner",
        "image_list": [{"image_url": solid(YELLOW)}],
        "video_list": [{"video_url": b64(base), "refer_type": "base", "keep_original_sound": "yes"}],
    }
    item = the_video(await engine.run(task("videos/omni-video", req), ctx))
    data = ctx.get(item["url"])
    check_video(data, width=1280, height=720, requested=80 / 24, reported=item["duration"], audio=True)
    box = strip_boxes(1, [(640, 480)], (1280, 720))[0]
    assert np.abs(mean_in(frames_of(data)[10], box) - YELLOW).max() < 25

    no_sound = {**req, "video_list": [{"video_url": b64(base), "keep_original_sound": "no"}]}
    item = the_video(await engine.run(task("videos/omni-video", no_sound), ctx))
    assert probe_av(ctx.get(item["url"])).audio_codec is None


async def test_omni_reference_video_too_short_fails_naming_it(engine, ctx):
    short = video_file(1280, 720, 24, (0, 40), 40)
    req = {
        "prompt": "x",
        "video_list": [{"video_url": b64(short), "refer_type": "feature"}],
        "aspect_ratio": "1:1",
    }
    with pytest.raises(TaskFailure, match=r"video_list\[0\]\.video_url"):
        await engine.run(task("videos/omni-video", req), ctx)


async def test_motion_control_lasts_as_long_as_the_motion(engine, ctx):
    # 1 s still, 4 s of motion, 1 s still at 24 fps
    motion = video_file(640, 360, 24, (24, 120), 144, audio=True)
    req = {
        "image_url": solid(RED, 400, 600),
        "video_url": b64(motion),
        "character_orientation": "image",
        "mode": "std",
    }
    item = the_video(await engine.run(task("videos/motion-control", req), ctx))
    data = ctx.get(item["url"])
    info = probe_av(data)
    assert abs(info.duration - 4.0) <= 0.15
    assert info.audio_codec == "aac"
    assert info.width is not None and info.height is not None
    assert info.width / info.height == pytest.approx(400 / 600, rel=0.02)  # follows the image
    frame = frames_of(data)[len(frames_of(data)) // 2]
    reds = (frame[..., 0] > 150) & (frame[..., 1] < 90) & (frame[..., 2] < 90)
    assert reds.mean() > 0.1  # the character is in the picture

    video_oriented = {**req, "character_orientation": "video", "keep_original_sound": "no"}
    item = the_video(await engine.run(task("videos/motion-control", video_oriented), ctx))
    info = probe_av(ctx.get(item["url"]))
    assert (info.width, info.height) == (1280, 720) and info.audio_codec is None


async def test_motion_control_without_enough_motion_fails(engine, ctx):
    still = video_file(640, 360, 24, (0, 0), 96)
    req = {"image_url": solid(RED), "video_url": b64(still), "character_orientation": "video", "mode": "std"}
    with pytest.raises(TaskFailure, match="continuous motion"):
        await engine.run(task("videos/motion-control", req), ctx)


async def test_motion_control_image_orientation_caps_video_at_10_s(engine, ctx):
    long = video_file(640, 360, 12, (0, 132), 132)  # 11 s
    req = {"image_url": solid(RED), "video_url": b64(long), "character_orientation": "image", "mode": "std"}
    with pytest.raises(TaskFailure, match="video_url"):
        await engine.run(task("videos/motion-control", req), ctx)


async def test_avatar_lasts_as_long_as_the_audio_with_it_muxed(engine, ctx):
    from support import wav_bytes

    req = {"image": solid(RED, 600, 800), "sound_file": b64(wav_bytes(3.4)), "mode": "pro"}
    item = the_video(await engine.run(task("videos/avatar/image2video", req), ctx))
    data = ctx.get(item["url"])
    info = probe_av(data)
    assert abs(info.duration - 3.4) <= 0.1 and info.audio_codec == "aac"
    assert info.width is not None and info.height is not None
    assert info.width / info.height == pytest.approx(600 / 800, rel=0.02)
    assert info.width * info.height == pytest.approx(1920 * 1080, rel=0.03)
    frames = frames_of(data)
    cy = int(info.height * 0.64)
    mouth = (info.width // 2 - 10, cy - 10, info.width // 2 + 10, cy + 10)
    assert mean_in(frames[len(frames) // 2], mouth)[0] < 120  # a dark open mouth over the red face


async def test_avatar_audio_too_short_fails_naming_it(engine, ctx):
    from support import wav_bytes

    req = {"image": solid(RED), "sound_file": b64(wav_bytes(1.0))}
    with pytest.raises(TaskFailure, match="sound_file"):
        await engine.run(task("videos/avatar/image2video", req), ctx)
