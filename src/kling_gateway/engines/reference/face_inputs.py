"""Gatherers of identify-face, advanced lip-sync, image-recognize and ai-multi-shot (event loop,
I/O only): fetch and check the media the request names, as :mod:`inputs` does for the others."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kling_gateway.engines.base import EngineContext, EngineTask
from kling_gateway.errors import TaskFailure
from kling_gateway.media import validate
from kling_gateway.schemas.faces import LIP_SYNC_AUDIO_S

from .inputs import MB, Prepared, _image, _parent
from .sizing import duration_text

FACE_VIDEO_S = (2.0, 60.0)
FACE_VIDEO_EDGES = (512, 2160)


async def _identify_face(task: EngineTask, ctx: EngineContext) -> Prepared:
    """A video of this account (≤ 60 s) or a URL/Base64 video (mp4/mov ≤ 100 MB, 2–60 s, edges
    512–2160 px), spec §8.6.2. A given video is kept as the session's parent."""
    req = task.request
    low, high = FACE_VIDEO_S
    if req.get("video_id"):
        record = await ctx.resolve_video(str(req["video_id"]), field="video_id")
        data = await ctx.read_video(record)
        validate.validate_video(data, "video_id", max_bytes=1 << 40, max_s=high)
        return Prepared(inputs={"video": data}, params={"keep_source": False}, parent_video=_parent(record))
    data = await ctx.fetch_input(str(req.get("video_url") or ""), field="video_url", kind="video")
    info = validate.validate_video(
        data,
        "video_url",
        max_bytes=100 * MB,
        min_s=low,
        max_s=high,
        min_edge=FACE_VIDEO_EDGES[0],
        max_edge=FACE_VIDEO_EDGES[1],
    )
    parent = {"id": "", "url": "", "duration": duration_text(info.duration)}  # url: the kept copy
    return Prepared(inputs={"video": data}, params={"keep_source": True}, parent_video=parent)


async def _advanced_lip_sync(task: EngineTask, ctx: EngineContext) -> Prepared:
    """The session's parent video and the chosen audio (a TTS ``audio_id`` or a ``sound_file``,
    2–60 s, ≤ 5 MB); the clip must lie inside the audio (the rest was checked at create)."""
    req = task.request
    session = await ctx.face_session(str(req.get("session_id") or ""), field="session_id")
    choice = (req.get("face_choose") or [{}])[0]
    if choice.get("audio_id"):
        field_name = "face_choose[0].audio_id"
        url = await ctx.resolve_audio(str(choice["audio_id"]), field=field_name)
        audio = await ctx.read_stored(url, field=field_name, kind="audio")
    else:
        field_name = "face_choose[0].sound_file"
        audio = await ctx.fetch_input(str(choice.get("sound_file") or ""), field=field_name, kind="audio")
    low, high = LIP_SYNC_AUDIO_S
    seconds = validate.validate_audio(audio, field_name, max_bytes=5 * MB, min_s=low, max_s=high)
    end = int(choice.get("sound_end_time") or 0)
    if end > seconds * 1000 + 50:  # the container's length may round a frame
        raise TaskFailure(
            f"face_choose[0].sound_end_time: {end} ms is past the end of the audio ({seconds * 1000:.0f} ms)"
        )
    parent = dict(session["parent_video"])
    video = await ctx.read_stored(str(parent.get("url") or ""), field="session_id", kind="video")
    return Prepared(inputs={"video": video, "audio": audio}, params={"choice": choice}, parent_video=parent)


async def _image_recognize(task: EngineTask, ctx: EngineContext) -> Prepared:
    """jpg/png ≤ 10 MB, ≥ 300 px, ratio 1:2.5–2.5:1 (spec more §7.8): the default image rules."""
    return Prepared(inputs={"image": await _image(ctx, str(task.request.get("image") or ""), "image")})


async def _ai_multi_shot(task: EngineTask, ctx: EngineContext) -> Prepared:
    value = str(task.request.get("element_frontal_image") or "")
    return Prepared(inputs={"image": await _image(ctx, value, "element_frontal_image")})


FACE_GATHERERS: dict[str, Callable[[EngineTask, EngineContext], Awaitable[Prepared]]] = {
    "videos/identify-face": _identify_face,
    "videos/advanced-lip-sync": _advanced_lip_sync,
    "videos/image-recognize": _image_recognize,
    "general/ai-multi-shot": _ai_multi_shot,
}
