"""Input rules for media a client sends (spec §8): pure functions raising TaskFailure.

Every message starts with the request field's name so the client can tell which input
was rejected. They decode only headers (plus a cheap integrity pass), so the API can call
them at create time for Base64 inputs.
"""

from __future__ import annotations

import io
import warnings

import av
from PIL import Image, UnidentifiedImageError

from kling_gateway.errors import TaskFailure
from kling_gateway.media.probe import MediaInfo, open_input, probe_av

MB = 1024 * 1024
# Largest image accepted (8K UHD is 33 MP). Checked from the header, before any pixel is decoded:
# a small file can declare a huge canvas (a decompression bomb) that would take gigabytes.
MAX_IMAGE_PIXELS = 40_000_000
IMAGE_FORMATS = frozenset({"jpeg", "png"})
# container names as FFmpeg reports them
_AUDIO_FORMATS = {"mp3": "mp3", "wav": "wav", "aac": "aac", "mov,mp4,m4a,3gp,3g2,mj2": "m4a"}
_VIDEO_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2"}


def _fail(field: str, rule: str) -> TaskFailure:
    return TaskFailure(f"{field}: {rule}")


def _check_size(data: bytes, field: str, max_bytes: int) -> None:
    if not data:
        raise _fail(field, "is empty")
    if len(data) > max_bytes:
        raise _fail(field, f"file is {len(data) / MB:.1f} MB, larger than the {max_bytes / MB:g} MB limit")


def _ratio_text(value: float) -> str:
    return f"1:{1 / value:g}" if value < 1 else f"{value:g}:1"


def validate_image(
    data: bytes,
    field: str,
    *,
    min_side: int = 300,
    max_bytes: int = 10 * MB,
    ratio: tuple[float, float] | None = (1 / 2.5, 2.5),
    formats: frozenset[str] | set[str] = IMAGE_FORMATS,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> tuple[int, int]:
    """Check an image's format, size in bytes, smallest side and aspect ratio; return (width, height)."""
    _check_size(data, field, max_bytes)
    try:
        with warnings.catch_warnings():  # Pillow warns past 89 MP; the stricter cap below decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
        with img:
            fmt = (img.format or "").lower()
            width, height = img.size
            if fmt not in formats:
                raise _fail(field, f"format {fmt or 'unknown'} is not one of {', '.join(sorted(formats))}")
            if width * height > max_pixels:
                raise _fail(field, f"{width}x{height} is more than the {max_pixels / 1e6:g} megapixel limit")
            if fmt == "jpeg":
                img.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # DCT-scaled: cheap full pass
                img.load()
            else:
                img.verify()
    except TaskFailure:
        raise
    except Image.DecompressionBombError:  # Pillow's own guard, for canvases far past ours
        raise _fail(field, f"declares more than the {max_pixels / 1e6:g} megapixel limit") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _fail(field, f"is not a readable image ({exc.__class__.__name__})") from None
    if min(width, height) < min_side:
        raise _fail(field, f"{width}x{height} is smaller than {min_side} px on a side")
    if ratio is not None:
        value = width / height
        low, high = ratio
        if value < low - 1e-9 or value > high + 1e-9:
            raise _fail(field, f"aspect ratio {value:.2f} is outside {_ratio_text(low)}–{_ratio_text(high)}")
    return width, height


def _decoded_audio_seconds(data: bytes) -> float:
    samples = 0
    rate = 0
    with open_input(data) as container:
        for frame in container.decode(audio=0):
            samples += frame.samples
            rate = frame.sample_rate
    return samples / rate if rate else 0.0


def _probe(data: bytes, field: str, what: str) -> MediaInfo:
    try:
        return probe_av(data)
    except (av.error.FFmpegError, IndexError, ValueError, OSError) as exc:
        raise _fail(field, f"is not a readable {what} ({exc.__class__.__name__})") from None


def _check_duration(field: str, duration: float, min_s: float | None, max_s: float | None) -> None:
    if (min_s is not None and duration < min_s - 1e-6) or (max_s is not None and duration > max_s + 1e-6):
        low = f"{min_s:g}" if min_s is not None else "0"
        high = f"{max_s:g}" if max_s is not None else "∞"
        raise _fail(field, f"duration {duration:.1f} s is outside {low}–{high} s")


def validate_audio(
    data: bytes,
    field: str,
    *,
    max_bytes: int = 5 * MB,
    min_s: float | None = None,
    max_s: float | None = None,
) -> float:
    """Check an mp3/wav/m4a/aac file; return its duration in seconds."""
    duration = _sound_seconds(data, field, max_bytes, _AUDIO_FORMATS, "mp3, wav, m4a, aac", "audio stream")
    _check_duration(field, duration, min_s, max_s)
    return duration


def _sound_seconds(
    data: bytes,
    field: str,
    max_bytes: int,
    formats: dict[str, str],
    names: str,
    track: str,
    *,
    decode: bool = False,
) -> float:
    """Size, container (one of ``formats``) and an audio stream checked; the sound's length,
    decoded when the container gives none (or always with ``decode``)."""
    _check_size(data, field, max_bytes)
    info = _probe(data, field, "audio file" if track == "audio stream" else "audio or video file")
    if info.format_name not in formats:
        raise _fail(field, f"format {info.format_name} is not one of {names}")
    if info.audio_codec is None:
        raise _fail(field, f"has no {track}")
    if info.duration > 0 and not decode:
        return info.duration
    try:
        return _decoded_audio_seconds(data)
    except av.error.FFmpegError:
        raise _fail(field, "is not a readable audio file") from None


VOICE_CLIP_FORMATS = {"mp3": "mp3", "wav": "wav", "mov,mp4,m4a,3gp,3g2,mj2": "mp4/mov"}


def validate_voice_clip(
    data: bytes, field: str, *, max_bytes: int, min_s: float | None = None, max_s: float | None = None
) -> float:
    """Check a voice clip (mp3/wav, or mp4/mov with an audio track); its decoded audio (not the
    container's length: a video's picture may run longer) must last ``min_s``–``max_s`` s."""
    formats, names = VOICE_CLIP_FORMATS, "mp3, wav, mp4, mov"
    duration = _sound_seconds(data, field, max_bytes, formats, names, "audio track", decode=True)
    _check_duration(field, duration, min_s, max_s)
    return duration


def validate_video(
    data: bytes,
    field: str,
    *,
    max_bytes: int = 100 * MB,
    min_s: float | None = None,
    max_s: float | None = None,
    min_edge: int | None = None,
    max_edge: int | None = None,
) -> MediaInfo:
    """Check an mp4/mov video: duration range, shorter edge ≥ min_edge, longer edge ≤ max_edge."""
    _check_size(data, field, max_bytes)
    info = _probe(data, field, "video")
    if info.format_name not in _VIDEO_FORMATS:
        raise _fail(field, f"format {info.format_name} is not mp4 or mov")
    if info.video_codec is None or not info.width or not info.height:
        raise _fail(field, "has no video stream")
    _check_duration(field, info.duration, min_s, max_s)
    short, long = sorted((info.width, info.height))
    if min_edge is not None and short < min_edge:
        raise _fail(field, f"{info.width}x{info.height} has an edge under {min_edge} px")
    if max_edge is not None and long > max_edge:
        raise _fail(field, f"{info.width}x{info.height} has an edge over {max_edge} px")
    return info
