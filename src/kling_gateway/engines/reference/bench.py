"""A quick speed check: ``python -m kling_gateway.engines.reference.bench [w h fps seconds]``."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from .encode import write_mp4
from .sizing import Geometry, frame_count
from .video_families import text2video_frames

_REQUEST = {
    "prompt": "benchmark: a lighthouse on a cliff at dusk",
    "camera_control": {"type": "simple", "config": {"zoom": 5}},
}


def render_seconds(width: int, height: int, fps: int, seconds: float) -> float:
    """Wall seconds to draw and encode a text2video-like clip in this process (one encoder thread)."""
    frames = frame_count(seconds, fps)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_mp4(
            Path(tmp) / "bench.mp4",
            text2video_frames(_REQUEST, 1, Geometry(width, height, fps), frames),
            width,
            height,
            fps,
        )
        return time.perf_counter() - start


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:]] or [1280, 720, 30, 5]
    w, h, fps, secs = int(args[0]), int(args[1]), int(args[2]), args[3]
    took = render_seconds(w, h, fps, secs)
    print(
        f"{w}x{h} {fps} fps {secs:g} s ({frame_count(secs, fps)} frames): {took:.2f} s wall, {secs / took:.1f}x real time"
    )
