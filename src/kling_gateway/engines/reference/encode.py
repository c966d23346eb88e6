"""Every file the reference engine writes or reads goes through here (PyAV / Pillow).

Encoder settings are fixed (one x264 thread, no varying metadata) so a render is
byte-identical each time it runs.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from ...errors import TaskFailure
from ...media.probe import open_input

SAMPLE_RATE = 48_000
_X264 = {"preset": "ultrafast", "tune": "fastdecode", "threads": "1", "crf": "26"}

# BT.601 limited range, as H.264 players assume
_TO_YUV = (0.257, 0.504, 0.098, 16, -0.148, -0.291, 0.439, 128, 0.439, -0.368, -0.071, 128)


@dataclass(frozen=True)
class Planes:
    """A frame already in yuv420p: full-size Y, half-size U and V ("L" images).

    Drawing straight into planes skips the per-frame RGB→YUV conversion (the fast path).
    """

    y: Image.Image
    u: Image.Image
    v: Image.Image

    @classmethod
    def from_rgb(cls, img: Image.Image) -> Planes:
        y, u, v = img.convert("RGB").convert("RGB", _TO_YUV).split()
        return cls(y, u.reduce(2), v.reduce(2))

    def paste(self, other: Planes, pos: tuple[int, int], alpha: tuple[Image.Image, Image.Image]) -> None:
        """Paste ``other`` at ``pos`` (full-size coordinates) through (full, half) alpha masks."""
        self.y.paste(other.y, pos, alpha[0])
        half = (pos[0] // 2, pos[1] // 2)
        self.u.paste(other.u, half, alpha[1])
        self.v.paste(other.v, half, alpha[1])


Frame = np.ndarray | Image.Image | Planes


def _to_video_frame(frame: Frame) -> av.VideoFrame:
    if isinstance(frame, Planes):
        w, h = frame.y.size
        data = np.concatenate(
            [np.asarray(frame.y).ravel(), np.asarray(frame.u).ravel(), np.asarray(frame.v).ravel()]
        )
        return av.VideoFrame.from_ndarray(data.reshape(h * 3 // 2, w), format="yuv420p")
    if isinstance(frame, Image.Image):
        frame = np.asarray(frame.convert("RGB") if frame.mode != "RGB" else frame)
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, dtype=np.uint8), format="rgb24")


def write_mp4(
    path: str | Path,
    frames: Iterable[Frame],
    width: int,
    height: int,
    fps: int | Fraction,
    audio: np.ndarray | None = None,
) -> int:
    """Encode frames (RGB H,W,3 uint8 arrays, PIL images, or :class:`Planes`) as H.264 yuv420p MP4.

    ``audio`` is float32 stereo (2, n) at 48 kHz, encoded as AAC and interleaved with the
    video; ``None`` writes no audio stream. Returns the number of video frames written.
    """
    rate = Fraction(fps).limit_denominator(1001)
    count = 0
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.options = dict(_X264)
        video.codec_context.thread_count = 1
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
            astream.codec_context.thread_count = 1
        sent = 0  # audio samples handed to the encoder
        chunk = 1024
        for frame in frames:
            vf = _to_video_frame(frame)
            vf.pts = count
            container.mux(video.encode(vf))
            count += 1
            if astream is not None and audio is not None:
                until = min(audio.shape[1], int(count / rate * SAMPLE_RATE))
                while sent + chunk <= until:
                    container.mux(astream.encode(_audio_frame(audio[:, sent : sent + chunk], sent)))
                    sent += chunk
        container.mux(video.encode(None))
        if astream is not None and audio is not None:
            while sent < audio.shape[1]:
                part = audio[:, sent : sent + chunk]
                container.mux(astream.encode(_audio_frame(part, sent)))
                sent += part.shape[1]
            container.mux(astream.encode(None))
    return count


def _audio_frame(samples: np.ndarray, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout="stereo"
    )
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = Fraction(1, SAMPLE_RATE)
    return frame


def write_wav(path: str | Path, audio: np.ndarray) -> None:
    """16-bit PCM stereo WAV at 48 kHz."""
    pcm = (np.clip(audio, -1, 1).T * 32767).astype("<i2")
    data = pcm.tobytes()
    header = b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    header += (1).to_bytes(2, "little") + (2).to_bytes(2, "little") + SAMPLE_RATE.to_bytes(4, "little")
    header += (SAMPLE_RATE * 4).to_bytes(4, "little") + (4).to_bytes(2, "little") + (16).to_bytes(2, "little")
    header += b"data" + len(data).to_bytes(4, "little")
    Path(path).write_bytes(header + data)


def write_mp3(path: str | Path, audio: np.ndarray) -> None:
    """MP3 (libmp3lame, 192 kb/s) stereo at 48 kHz."""
    with av.open(str(path), "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=SAMPLE_RATE, layout="stereo")
        stream.bit_rate = 192_000
        stream.codec_context.thread_count = 1
        fmt = stream.codec_context.format.name
        chunk = 1152
        for start in range(0, audio.shape[1], chunk):
            part = np.ascontiguousarray(audio[:, start : start + chunk], dtype=np.float32)
            if fmt == "s16p":
                frame = av.AudioFrame.from_ndarray(
                    (np.clip(part, -1, 1) * 32767).astype(np.int16), format="s16p", layout="stereo"
                )
            else:
                frame = av.AudioFrame.from_ndarray(part, format="fltp", layout="stereo")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            frame.time_base = Fraction(1, SAMPLE_RATE)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_png(path: str | Path, image: Image.Image | np.ndarray) -> None:
    img = image if isinstance(image, Image.Image) else Image.fromarray(image)
    img.save(str(path), format="PNG", compress_level=1)


def open_image(data: bytes, field: str | None = None) -> Image.Image:
    """Decode an input image to RGB, honouring EXIF orientation.

    The checks before rendering read an image's header; a picture that then does not decode
    (truncated, corrupt) is the input's fault: a :class:`TaskFailure` naming ``field``."""
    from PIL import ImageOps

    try:
        with Image.open(io.BytesIO(data)) as img:
            return ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        name = f"{field}: the image" if field else "an input image"
        raise TaskFailure(f"{name} does not decode ({exc})") from None


@dataclass(frozen=True)
class VideoSource:
    """What a decoded input video looks like; frames come from :func:`iter_frames`."""

    width: int
    height: int
    fps: Fraction
    frames: int
    has_audio: bool

    @property
    def duration(self) -> float:
        return self.frames / float(self.fps)


def inspect_video(source: bytes | str | Path) -> VideoSource:
    """Size (cropped to even), frame rate and exact frame count of a video."""
    with open_input(source) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        count = sum(1 for _ in container.demux(stream) if _.size)
        w, h = stream.codec_context.width, stream.codec_context.height
        return VideoSource(
            w - w % 2, h - h % 2, Fraction(rate).limit_denominator(1001), count, bool(container.streams.audio)
        )


def iter_frames(source: bytes | str | Path, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Decoded RGB frames (H,W,3), cropped to even dimensions or scaled to ``size``."""
    with open_input(source) as container:
        for frame in container.decode(video=0):
            if size is not None and (frame.width, frame.height) != size:
                frame = frame.reformat(width=size[0], height=size[1])
            arr = frame.to_ndarray(format="rgb24")
            yield arr[: arr.shape[0] - arr.shape[0] % 2, : arr.shape[1] - arr.shape[1] % 2]


def frame_at(source: bytes | str | Path, index: int) -> np.ndarray:
    """One decoded frame (clamped to the last one)."""
    last = None
    for i, frame in enumerate(iter_frames(source)):
        last = frame
        if i >= index:
            break
    if last is None:
        raise ValueError("video has no frames")
    return last


def read_audio(source: bytes | str | Path) -> np.ndarray | None:
    """The first audio stream as float32 stereo (2, n) at 48 kHz; None when there is none."""
    with open_input(source) as container:
        if not container.streams.audio:
            return None
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
        parts = []
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray())
        for out in resampler.resample(None):
            parts.append(out.to_ndarray())
    if not parts:
        return np.zeros((2, 0), np.float32)
    return np.concatenate(parts, axis=1).astype(np.float32)


def fit_audio(audio: np.ndarray | None, samples: int) -> np.ndarray:
    """Trim or pad with silence to exactly ``samples``."""
    if audio is None:
        return np.zeros((2, samples), np.float32)
    if audio.shape[1] >= samples:
        return audio[:, :samples]
    return np.pad(audio, ((0, 0), (0, samples - audio.shape[1])))


def samples_for(frames: int, fps: int | Fraction) -> int:
    return int(round(frames / Fraction(fps) * SAMPLE_RATE))
