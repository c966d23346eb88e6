"""Gather and check the media of a new-standard request (``contents[]`` URLs or Base64) before
rendering: images per §3.2, reference videos per §4.3 (from the catalogue), motion videos per §4.4."""

from __future__ import annotations

from typing import Any

from kling_gateway.catalog import ReferenceVideo, build_catalog
from kling_gateway.engines.base import EngineContext, EngineTask
from kling_gateway.errors import TaskFailure
from kling_gateway.media import validate

from .inputs import MB, Prepared

IMAGE_MAX = 50 * MB  # §3.2
OMNI_VIDEO_MAX = 200 * MB  # §4.3
MOTION_VIDEO_MAX = 100 * MB  # §4.4
MOTION_EDGES = (340, 3850)


def _reference_limits(task: EngineTask) -> ReferenceVideo:
    served = build_catalog().offer(task.family, task.request.get("model"))
    limits = served.offer.reference_video if served is not None else None
    return limits or ReferenceVideo()


def _check_shape(field: str, width: int, height: int, limits: ReferenceVideo) -> None:
    if limits.max_area is not None and width * height > limits.max_area:
        raise TaskFailure(f"{field}: {width}x{height} is over {limits.max_area} pixels")
    ratio = width / height
    if limits.min_ratio is not None and ratio < limits.min_ratio - 1e-6:
        raise TaskFailure(f"{field}: aspect ratio {ratio:.2f} is under {limits.min_ratio:g}")
    if limits.max_ratio is not None and ratio > limits.max_ratio + 1e-6:
        raise TaskFailure(f"{field}: aspect ratio {ratio:.2f} is over {limits.max_ratio:g}")


async def gather_standard2(task: EngineTask, ctx: EngineContext) -> Prepared:
    out = Prepared()
    refs: list[bytes] = []
    settings: dict[str, Any] = task.request.get("settings") or {}
    for i, item in enumerate(task.request.get("contents") or []):
        kind, field = item.get("type"), f"contents[{i}].url"
        if kind in ("first_frame", "last_frame", "refer_image", "image"):
            data = await ctx.fetch_input(str(item["url"]), field=field, kind="image")
            validate.validate_image(data, field, max_bytes=IMAGE_MAX)
            if kind == "refer_image":
                refs.append(data)
            else:
                out.inputs[kind] = data
        elif kind in ("feature_video", "base_video"):
            limits = _reference_limits(task)
            data = await ctx.fetch_input(str(item["url"]), field=field, kind="video")
            info = validate.validate_video(
                data,
                field,
                max_bytes=OMNI_VIDEO_MAX,
                min_s=limits.min_seconds,
                max_s=limits.max_seconds,
                min_edge=limits.min_side,
                max_edge=limits.max_side,
            )
            assert info.width and info.height  # validate_video requires a video stream
            _check_shape(field, info.width, info.height, limits)
            out.inputs["video"] = data
            out.params.update(
                video_role=kind, video_size=(info.width, info.height), video_seconds=info.duration
            )
        elif kind == "video":  # motion-control reference
            longest = 30.0 if settings.get("character_orientation") == "video" else 10.0
            data = await ctx.fetch_input(str(item["url"]), field=field, kind="video")
            info = validate.validate_video(
                data,
                field,
                max_bytes=MOTION_VIDEO_MAX,
                min_s=3.0,
                max_s=longest,
                min_edge=MOTION_EDGES[0],
                max_edge=MOTION_EDGES[1],
            )
            assert info.width and info.height
            out.inputs["video"] = data
            out.params.update(
                video_role="video", video_size=(info.width, info.height), video_seconds=info.duration
            )
    out.inputs["refer_images"] = refs
    return out
