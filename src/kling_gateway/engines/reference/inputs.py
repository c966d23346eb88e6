"""Gather and check a task's inputs before rendering (runs on the event loop, I/O only).

Each family's gatherer fetches the media named in the request through the context,
validates it with :mod:`kling_gateway.media.validate`, and returns what the renderer needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kling_gateway.catalog import ReferenceVideo
from kling_gateway.engines.base import EngineContext, EngineTask, VideoRecord
from kling_gateway.errors import TaskFailure
from kling_gateway.media import validate
from kling_gateway.media.speech import require_speech
from kling_gateway.schemas.model_limits import packaged_catalog
from kling_gateway.schemas.voices import VOICE_CLIP_S, VOICES

from .sizing import duration_text
from .video_families import DUAL_SCENES, EXTEND_SECONDS, MAX_EXTENDED_SECONDS

MB = 1024 * 1024


@dataclass
class Prepared:
    inputs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    parent_video: dict[str, str] | None = None
    session_id: str | None = None


def _parent(record: VideoRecord) -> dict[str, str]:
    return {"id": record.video_id, "url": record.url, "duration": duration_text(record.duration)}


async def _image(ctx: EngineContext, value: str, field_name: str, **rules: Any) -> bytes:
    data = await ctx.fetch_input(value, field=field_name, kind="image")
    validate.validate_image(data, field_name, **rules)
    return data


async def _mask(ctx: EngineContext, value: str, field_name: str, image_size: tuple[int, int] | None) -> bytes:
    data = await ctx.fetch_input(value, field=field_name, kind="image")
    w, h = validate.validate_image(data, field_name, min_side=1, ratio=None)
    if (
        image_size is not None
        and abs(w / h - image_size[0] / image_size[1]) > 0.02 * image_size[0] / image_size[1]
    ):
        raise TaskFailure(
            f"{field_name}: aspect ratio {w / h:.2f} differs from the image's {image_size[0] / image_size[1]:.2f}"
        )
    return data


async def _video_input(
    ctx: EngineContext,
    body: dict[str, Any],
    prefix: str,
    *,
    min_s: float | None,
    max_s: float | None,
    min_edge: int | None = None,
    max_edge: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A source video from ``video_id`` (a video of this account) or ``video_url``."""
    if body.get("video_id"):
        record = await ctx.resolve_video(str(body["video_id"]), field=prefix + "video_id")
        data = await ctx.read_video(record)
        validate.validate_video(data, prefix + "video_id", max_bytes=1 << 40, min_s=min_s, max_s=max_s)
        return data, _parent(record)
    if body.get("video_url"):
        url = str(body["video_url"])
        data = await ctx.fetch_input(url, field=prefix + "video_url", kind="video")
        info = validate.validate_video(
            data,
            prefix + "video_url",
            max_bytes=100 * MB,
            min_s=min_s,
            max_s=max_s,
            min_edge=min_edge,
            max_edge=max_edge,
        )
        shown = url if url.startswith(("http://", "https://")) else ""
        return data, {"id": "", "url": shown, "duration": duration_text(info.duration)}
    raise TaskFailure(f"{prefix}video_id: one of video_id or video_url is required")


async def _text2video(task: EngineTask, ctx: EngineContext) -> Prepared:
    return Prepared()


async def _image2video(task: EngineTask, ctx: EngineContext) -> Prepared:
    req = task.request
    if not req.get("image") and not req.get("image_tail"):
        raise TaskFailure("image: at least one of image or image_tail is required")
    out = Prepared()
    size = None
    for name in ("image", "image_tail"):
        if req.get(name):
            data = await ctx.fetch_input(req[name], field=name, kind="image")
            dims = validate.validate_image(data, name)
            out.inputs[name] = data
            size = size or dims
    if req.get("static_mask"):
        out.inputs["static_mask"] = await _mask(ctx, req["static_mask"], "static_mask", size)
    masks = []
    for i, group in enumerate(req.get("dynamic_masks") or []):
        masks.append(await _mask(ctx, group.get("mask") or "", f"dynamic_masks[{i}].mask", size))
        if len(group.get("trajectories") or []) < 2:
            raise TaskFailure(f"dynamic_masks[{i}].trajectories: at least 2 points are required")
    out.inputs["dynamic_masks"] = masks
    out.inputs["references"] = await element_images(ctx, req)  # kling-v3 element_list
    return out


async def _multi_image2video(task: EngineTask, ctx: EngineContext) -> Prepared:
    items = task.request.get("image_list") or []
    if not 1 <= len(items) <= 4:
        raise TaskFailure("image_list: 1 to 4 images are required")
    images = [
        await _image(ctx, item.get("image") or "", f"image_list[{i}].image") for i, item in enumerate(items)
    ]
    return Prepared(inputs={"image_list": images})


async def _video_extend(task: EngineTask, ctx: EngineContext) -> Prepared:
    video_id = task.request.get("video_id")
    if not video_id:
        raise TaskFailure("video_id: is required")
    record = await ctx.resolve_video(str(video_id), field="video_id")
    if record.duration + EXTEND_SECONDS > MAX_EXTENDED_SECONDS:
        raise TaskFailure(
            f"video_id: the video is {record.duration:.1f} s; extending it would pass the 180 s limit"
        )
    return Prepared(inputs={"video": await ctx.read_video(record)}, parent_video=_parent(record))


async def _lip_sync(task: EngineTask, ctx: EngineContext) -> Prepared:
    inp = task.request.get("input") or {}
    mode = inp.get("mode")
    if mode == "text2video":
        if not (inp.get("text") or "").strip():
            raise TaskFailure("input.text: is required for text2video")
        require_speech()
    elif mode != "audio2video":
        raise TaskFailure("input.mode: must be text2video or audio2video")
    video, parent = await _video_input(ctx, inp, "input.", min_s=2.0, max_s=10.5, min_edge=720, max_edge=1920)
    out = Prepared(inputs={"video": video, "audio": None}, parent_video=parent)
    if mode == "audio2video":
        field_name = "input.audio_file" if inp.get("audio_type") == "file" else "input.audio_url"
        value = inp.get(field_name.split(".", 1)[1])
        if not value:
            raise TaskFailure(f"{field_name}: is required for audio2video")
        audio = await ctx.fetch_input(value, field=field_name, kind="audio")
        validate.validate_audio(audio, field_name, max_bytes=5 * MB, max_s=300.0)
        out.inputs["audio"] = audio
    return out


async def _effects(task: EngineTask, ctx: EngineContext) -> Prepared:
    scene = task.request.get("effect_scene") or ""
    inp = task.request.get("input") or {}
    if scene in DUAL_SCENES:
        images = inp.get("images") or []
        if len(images) != 2:
            raise TaskFailure(f"input.images: {scene} needs exactly 2 images")
        return Prepared(
            inputs={"images": [await _image(ctx, v, f"input.images[{i}]") for i, v in enumerate(images)]}
        )
    if not inp.get("image"):
        raise TaskFailure("input.image: is required")
    return Prepared(inputs={"image": await _image(ctx, inp["image"], "input.image")})


async def _multi_elements(task: EngineTask, ctx: EngineContext) -> Prepared:
    req = task.request
    session_id = str(req.get("session_id") or "")
    session = await ctx.selection_session(session_id, field="session_id")
    mode = req.get("edit_mode")
    items = req.get("image_list") or []
    need = {"addition": (1, 2), "swap": (1, 1), "removal": (0, 0)}.get(mode or "")
    if need is None:
        raise TaskFailure("edit_mode: must be addition, swap or removal")
    if not need[0] <= len(items) <= need[1]:
        raise TaskFailure(f"image_list: {mode} takes {need[0]}–{need[1]} images, got {len(items)}")
    if mode != "addition" and not session.selections:
        raise TaskFailure(f"session_id: {mode} needs a selected region (add-selection) first")
    if session.video_url:
        source = VideoRecord(
            video_id="",
            task_id="",
            account_id=session.account_id,
            url=session.video_url,
            duration=session.duration,
        )
    elif session.video is not None:
        source = session.video
    else:
        raise TaskFailure("session_id: the session has no source video")
    images = [
        await _image(ctx, item.get("image") or "", f"image_list[{i}].image") for i, item in enumerate(items)
    ]
    return Prepared(
        inputs={"video": await ctx.read_video(source), "image_list": images},
        params={"selections": list(session.selections)},
        session_id=session.session_id,
    )


async def _generations(task: EngineTask, ctx: EngineContext) -> Prepared:
    image = task.request.get("image")
    return Prepared(inputs={"image": await _image(ctx, image, "image") if image else None})


async def _try_on(task: EngineTask, ctx: EngineContext) -> Prepared:
    out = Prepared()
    for name in ("human_image", "cloth_image"):
        if not task.request.get(name):
            raise TaskFailure(f"{name}: is required")
        out.inputs[name] = await _image(ctx, task.request[name], name, ratio=None)
    return out


async def _text_to_audio(task: EngineTask, ctx: EngineContext) -> Prepared:
    duration = task.request.get("duration")
    try:
        if duration is None:
            raise TypeError
        seconds = float(duration)
    except (TypeError, ValueError):
        raise TaskFailure("duration: must be a number of seconds") from None
    if not 3.0 <= seconds <= 10.0:
        raise TaskFailure(f"duration: {seconds:g} is outside 3.0–10.0 s")
    return Prepared()


async def _video_to_audio(task: EngineTask, ctx: EngineContext) -> Prepared:
    video, parent = await _video_input(ctx, task.request, "", min_s=3.0, max_s=20.0)
    return Prepared(inputs={"video": video}, parent_video=parent)


def _reference_video_limits(model: str | None) -> ReferenceVideo:
    """An omni reference video's limits for ``model``, from the packaged catalogue (a model only
    the operator's config knows gets the widest legacy limits)."""
    served = packaged_catalog().offer("videos/omni-video", model)
    if served is not None and served.offer.reference_video is not None:
        return served.offer.reference_video
    return ReferenceVideo(min_seconds=3.0, max_seconds=15.0, min_side=720, max_side=2160)


async def _omni_video(task: EngineTask, ctx: EngineContext) -> Prepared:
    req = task.request
    references: list[bytes] = await element_images(ctx, req)
    out = Prepared(inputs={"references": references})
    for i, item in enumerate(req.get("image_list") or []):
        data = await _image(ctx, item.get("image_url") or "", f"image_list[{i}].image_url")
        kind = item.get("type")
        if kind in ("first_frame", "end_frame"):
            out.inputs[kind] = data
        else:
            references.append(data)
    for item in (req.get("video_list") or [])[:1]:
        limits = _reference_video_limits(req.get("model_name"))
        data = await ctx.fetch_input(
            item.get("video_url") or "", field="video_list[0].video_url", kind="video"
        )
        validate.validate_video(
            data,
            "video_list[0].video_url",
            max_bytes=200 * MB,
            min_s=limits.min_seconds,
            max_s=limits.max_seconds,
            min_edge=limits.min_side,
            max_edge=limits.max_side,
        )
        out.inputs["video"] = data
        out.params["refer_type"] = item.get("refer_type") or "base"
        out.params["keep_original_sound"] = item.get("keep_original_sound") or "yes"
    return out


async def _motion_control(task: EngineTask, ctx: EngineContext) -> Prepared:
    req = task.request
    image = await _image(ctx, req.get("image_url") or "", "image_url")
    follows_video = req.get("character_orientation") == "video" or bool(req.get("element_list"))
    video = await ctx.fetch_input(req.get("video_url") or "", field="video_url", kind="video")
    validate.validate_video(
        video,
        "video_url",
        max_bytes=100 * MB,
        min_s=3.0,
        max_s=30.0 if follows_video else 10.0,
        min_edge=340,
        max_edge=3850,
    )
    return Prepared(inputs={"image": image, "video": video})


AVATAR_AUDIO_S = (2.0, 300.0)


async def _avatar(task: EngineTask, ctx: EngineContext) -> Prepared:
    req = task.request
    image = await _image(ctx, req.get("image") or "", "image")
    if req.get("audio_id"):
        url = await ctx.resolve_audio(str(req["audio_id"]), field="audio_id")
        audio = await ctx.read_stored(url, field="audio_id", kind="audio")
        field_name = "audio_id"
    elif req.get("sound_file"):
        audio = await ctx.fetch_input(str(req["sound_file"]), field="sound_file", kind="audio")
        field_name = "sound_file"
    else:
        raise TaskFailure("audio_id/sound_file: exactly one of audio_id, sound_file is required")
    low, high = AVATAR_AUDIO_S
    validate.validate_audio(audio, field_name, max_bytes=5 * MB, min_s=low, max_s=high)
    return Prepared(inputs={"image": image, "audio": audio})


async def _omni_image(task: EngineTask, ctx: EngineContext) -> Prepared:
    items = task.request.get("image_list") or []
    images = [await _image(ctx, i.get("image") or "", f"image_list[{k}].image") for k, i in enumerate(items)]
    return Prepared(inputs={"image_list": images + await element_images(ctx, task.request)})


async def _multi_image2image(task: EngineTask, ctx: EngineContext) -> Prepared:
    req = task.request
    items = req.get("subject_image_list") or []
    out = Prepared(inputs={"subjects": []})
    for k, item in enumerate(items):
        field_name = f"subject_image_list[{k}].subject_image"
        out.inputs["subjects"].append(await _image(ctx, item.get("subject_image") or "", field_name))
    for name in ("scene_image", "style_image"):
        if req.get(name):
            out.inputs[name] = await _image(ctx, req[name], name)
    return out


async def _expand(task: EngineTask, ctx: EngineContext) -> Prepared:
    return Prepared(inputs={"image": await _image(ctx, task.request.get("image") or "", "image")})


ELEMENT_VIDEO_S = (3.0, 8.0)


async def _element(task: EngineTask, ctx: EngineContext) -> Prepared:
    """An element's references: a frontal image and 1–3 angles, or one 3–8 s video."""
    req = task.request
    images = req.get("element_image_list") or {}
    if req.get("reference_type") == "image_refer":
        frontal = await _image(ctx, images.get("frontal_image") or "", "element_image_list.frontal_image")
        refers = [
            await _image(ctx, item.get("image_url") or "", f"element_image_list.refer_images[{k}].image_url")
            for k, item in enumerate(images.get("refer_images") or [])
        ]
        return Prepared(inputs={"frontal": frontal, "refers": refers})
    videos = (req.get("element_video_list") or {}).get("refer_videos") or [{}]
    field_name = "element_video_list.refer_videos[0].video_url"
    video = await ctx.fetch_input(videos[0].get("video_url") or "", field=field_name, kind="video")
    low, high = ELEMENT_VIDEO_S
    validate.validate_video(video, field_name, max_bytes=200 * MB, min_s=low, max_s=high)
    return Prepared(inputs={"video": video})


async def element_images(ctx: EngineContext, req: dict[str, Any]) -> list[bytes]:
    """The frontal images of the elements a request names (presets have none stored)."""
    out = []
    for k, item in enumerate(req.get("element_list") or []):
        field_name = f"element_list[{k}].element_id"
        element = await ctx.resolve_element(str(item.get("element_id")), field=field_name)
        url = (element.get("element_image_list") or {}).get("frontal_image")
        if url:
            out.append(await ctx.read_stored(url, field=field_name, kind="image"))
    return out


async def _voice(task: EngineTask, ctx: EngineContext) -> Prepared:
    """A voice's clip: ``voice_url`` (mp3/wav/mp4/mov, 5–30 s of decoded audio), or the sound of
    a video the gateway made for this account (checked to have a track at create time)."""
    req = task.request
    if req.get("video_id"):
        record = await ctx.resolve_video(str(req["video_id"]), field="video_id")
        clip = await ctx.read_stored(record.url, field="video_id", kind="video")
        return Prepared(inputs={"clip": clip, "field": "video_id"})
    clip = await ctx.fetch_input(str(req.get("voice_url") or ""), field="voice_url", kind="video")
    low, high = VOICE_CLIP_S
    validate.validate_voice_clip(clip, "voice_url", max_bytes=200 * MB, min_s=low, max_s=high)
    return Prepared(inputs={"clip": clip, "field": "voice_url"})


async def _tts(task: EngineTask, ctx: EngineContext) -> Prepared:
    require_speech()
    return Prepared()


GATHERERS: dict[str, Callable[[EngineTask, EngineContext], Awaitable[Prepared]]] = {
    "videos/text2video": _text2video,
    "videos/image2video": _image2video,
    "videos/multi-image2video": _multi_image2video,
    "videos/video-extend": _video_extend,
    "videos/lip-sync": _lip_sync,
    "videos/effects": _effects,
    "videos/multi-elements": _multi_elements,
    "images/generations": _generations,
    "images/kolors-virtual-try-on": _try_on,
    "videos/omni-video": _omni_video,
    "videos/motion-control": _motion_control,
    "audio/text-to-audio": _text_to_audio,
    "audio/video-to-audio": _video_to_audio,
    "audio/tts": _tts,
    "images/omni-image": _omni_image,
    "images/multi-image2image": _multi_image2image,
    "images/editing/expand": _expand,
    "videos/avatar/image2video": _avatar,
    "general/advanced-custom-elements": _element,
    VOICES: _voice,
}
