"""Input rules: each rejection names the field and the rule."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kling_gateway.engines.reference.encode import write_mp3, write_mp4, write_wav
from kling_gateway.errors import TaskFailure
from kling_gateway.media.validate import validate_audio, validate_image, validate_video
from support import png_header_only


def image_bytes(w: int, h: int, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 200, 30)).save(buf, format=fmt)
    return buf.getvalue()


def test_image_ok_jpeg_and_png():
    assert validate_image(image_bytes(400, 300), "image") == (400, 300)
    assert validate_image(image_bytes(300, 750, "JPEG"), "image_tail") == (300, 750)


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (image_bytes(200, 400), {}, "^image: 200x400 is smaller than 300 px"),
        (image_bytes(930, 300), {}, "^image: aspect ratio 3.10 is outside 1:2.5–2.5:1"),
        (image_bytes(300, 900), {}, "^image: aspect ratio 0.33 is outside"),
        (image_bytes(400, 400, "GIF"), {}, "^image: format gif is not one of jpeg, png"),
        (image_bytes(400, 400), {"max_bytes": 1000}, "^image: file is .* larger than"),
        (b"", {}, "^image: is empty"),
        (b"\x89PNG\r\n\x1a\n garbage", {}, "^image: is not a readable image"),
        (image_bytes(800, 800, "JPEG")[:300], {}, "^image: is not a readable image"),
        # decompression bombs: refused from the header, before a pixel is decoded
        (png_header_only(13000, 13000), {}, "^image: 13000x13000 is more than the 40 megapixel limit"),
        (png_header_only(60000, 60000), {}, "^image: .*40 megapixel limit"),  # past Pillow's own guard
        (image_bytes(400, 400), {"max_pixels": 100_000}, "^image: 400x400 is more than the 0.1 megapixel"),
    ],
)
def test_image_rejections(data, kwargs, message):
    with pytest.raises(TaskFailure, match=message):
        validate_image(data, "image", **kwargs)


def test_image_ratio_can_be_disabled():
    assert validate_image(image_bytes(930, 300), "human_image", ratio=None) == (930, 300)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, bytes]:
    root = Path(tmp_path_factory.mktemp("media"))
    t = np.arange(int(2.5 * 48000)) / 48000
    tone = np.stack([np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32) * 0.3
    write_wav(root / "a.wav", tone)
    write_mp3(root / "a.mp3", tone)
    write_mp4(root / "v.mp4", (np.zeros((240, 320, 3), np.uint8) for _ in range(60)), 320, 240, 30)
    return {p.suffix[1:]: p.read_bytes() for p in root.iterdir()}


def test_audio(media):
    assert abs(validate_audio(media["wav"], "input.audio_file") - 2.5) < 0.05
    assert abs(validate_audio(media["mp3"], "input.audio_file", min_s=2, max_s=60) - 2.5) < 0.1
    with pytest.raises(TaskFailure, match=r"^input\.audio_file: duration 2.5 s is outside 3–60 s"):
        validate_audio(media["wav"], "input.audio_file", min_s=3, max_s=60)
    with pytest.raises(TaskFailure, match=r"^input\.audio_url: is not a readable audio file"):
        validate_audio(b"\x00" * 500, "input.audio_url")
    with pytest.raises(TaskFailure, match=r"^input\.audio_file: file is"):
        validate_audio(media["wav"], "input.audio_file", max_bytes=1000)
    with pytest.raises(TaskFailure, match="^sound_file: has no audio stream"):
        validate_audio(media["mp4"], "sound_file")  # video-only mp4: no audio stream


def test_video(media):
    info = validate_video(media["mp4"], "video_url", min_s=1, max_s=10)
    assert (info.width, info.height, info.video_codec) == (320, 240, "h264")
    with pytest.raises(TaskFailure, match="^video_url: duration 2.0 s is outside 3–20 s"):
        validate_video(media["mp4"], "video_url", min_s=3, max_s=20)
    with pytest.raises(TaskFailure, match="^video_url: 320x240 has an edge under 720 px"):
        validate_video(media["mp4"], "video_url", min_edge=720)
    with pytest.raises(TaskFailure, match="^video_url: 320x240 has an edge over 300 px"):
        validate_video(media["mp4"], "video_url", max_edge=300)
    with pytest.raises(TaskFailure, match="^video_url: is not a readable video"):
        validate_video(b"junk" * 100, "video_url")
    with pytest.raises(TaskFailure, match="^video_url: format wav is not mp4 or mov"):
        validate_video(media["wav"], "video_url")
