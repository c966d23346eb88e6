"""An upstream ``succeed`` task object → the gateway's outcome.

Every result file (videos, watermarked copies, images, audio mp3/wav) is copied into the
gateway's storage through the private-address guard with a size cap and a deadline, so clients
get the gateway's URLs, which outlive the upstream's expiring CDN links. ``passthrough``
channels keep the upstream URLs instead. Video and audio ids are the gateway's own; each video
keeps its origin (channel, upstream id) so follow-up tasks find their way back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from ...config import Settings
from ...errors import TaskFailure, TransferError, TransientEngineError, UnsafeURLError
from ...httpclient import guarded_stream
from ...ids import new_numeric_id
from ...present import UrlSigner
from ..base import EngineContext, EngineOutcome, EngineTask
from . import metrics
from .channels import ChannelConfig
from .requests import Prepared

MAX_PARALLEL_DOWNLOADS = 4
SHOT_URLS = tuple((f"url_{k}", f"-{k}") for k in (1, 2, 3))


def _image_type(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\x89PNG"):
        return "png", "image/png"
    if data.startswith(b"\xff\xd8"):
        return "jpg", "image/jpeg"
    if data[8:12] == b"WEBP":
        return "webp", "image/webp"
    return "png", "image/png"


class Mirror:
    """Copies one task's result files into storage (or leaves the URLs alone for passthrough)."""

    def __init__(
        self,
        channel: ChannelConfig,
        task: EngineTask,
        ctx: EngineContext,
        settings: Settings,
        client: httpx.AsyncClient,
    ):
        self.channel = channel
        self.task = task
        self.ctx = ctx
        self.settings = settings
        self.client = client
        self._limit = asyncio.Semaphore(MAX_PARALLEL_DOWNLOADS)

    async def copy(self, url: Any, name: str, kind: str) -> Any:
        if self.channel.passthrough or not isinstance(url, str) or not url:
            return url
        async with self._limit:
            try:
                data = await guarded_stream(
                    self.client,
                    "GET",
                    url,
                    self.settings,
                    max_bytes=self.settings.fetch_max_bytes,
                    field=f"result {name}",
                    timeout=self.channel.download_timeout,
                )
            except UnsafeURLError as exc:
                raise TaskFailure(f"upstream result refused: {exc}") from None
            except TransferError as exc:
                if exc.retryable:
                    raise TransientEngineError(
                        f"cannot copy upstream result: {exc.message}", retry_after=2.0
                    ) from None
                raise TaskFailure(f"cannot copy upstream result: {exc.message}") from None
        metrics.MIRRORED_BYTES.labels(self.channel.name).inc(len(data))
        if kind == "image":
            ext, ctype = _image_type(data)
        else:
            ext, ctype = {
                "video": ("mp4", "video/mp4"),
                "mp3": ("mp3", "audio/mpeg"),
                "wav": ("wav", "audio/wav"),
            }[kind]
        return await self.ctx.put_result(f"{self.task.task_id}/{name}.{ext}", data, ctype)


async def build_outcome(
    data: dict[str, Any],
    prepared: Prepared,
    channel: ChannelConfig,
    task: EngineTask,
    ctx: EngineContext,
    settings: Settings,
    client: httpx.AsyncClient,
    signer: UrlSigner,
) -> EngineOutcome:
    upstream = data.get("task_result") or {}
    if not isinstance(upstream, dict):
        raise TaskFailure("upstream returned a malformed task_result")
    mirror = Mirror(channel, task, ctx, settings, client)
    result: dict[str, Any] = {}
    origins: dict[str, tuple[str, str]] = {}
    jobs: list[Any] = []

    videos = []
    for i, item in enumerate(upstream.get("videos") or []):
        if not isinstance(item, dict):
            continue
        ours = {**item, "id": new_numeric_id()}
        if item.get("id"):
            origins[ours["id"]] = (channel.name, str(item["id"]))
        if "session_id" in ours and task.family == "videos/multi-elements":
            ours["session_id"] = task.request.get("session_id")
        videos.append(ours)
        jobs.append((ours, "url", f"video-{i}", "video"))
        if item.get("watermark_url"):
            jobs.append((ours, "watermark_url", f"video-{i}-watermark", "video"))
    image_lists: dict[str, list[dict[str, Any]]] = {"images": [], "series_images": []}
    for key, stem in (("images", "image"), ("series_images", "series")):
        for i, item in enumerate(upstream.get(key) or []):
            if not isinstance(item, dict):
                continue
            ours = dict(item)
            index = item.get("index", item.get("type", i))  # image-recognize masks have a type
            image_lists[key].append(ours)
            # url_1..url_3: ai-multi-shot's side views
            for field, suffix in (("url", ""), ("watermark_url", "-watermark"), *SHOT_URLS):
                if item.get(field):
                    jobs.append((ours, field, f"{stem}-{index}{suffix}", "image"))
    images = image_lists["images"]
    audios = []
    for i, item in enumerate(upstream.get("audios") or []):
        if not isinstance(item, dict):
            continue
        ours = {**item, "id": new_numeric_id()}
        audios.append(ours)
        for key, kind in (("url_mp3", "mp3"), ("url_wav", "wav"), ("url", "mp3")):
            if item.get(key):
                jobs.append((ours, key, f"audio-{i}-{key}", kind))

    # identify-face: faces at the top of data (Kling) or in task_result (a gateway upstream);
    # the session id clients see is the task id (face_refs), the upstream's stays on the row
    faces = upstream.get("face_data", data.get("face_data"))
    if task.family == "videos/identify-face" and isinstance(faces, list):
        result["session_id"] = task.task_id
        result["face_data"] = []
        for i, item in enumerate(faces):
            if isinstance(item, dict):
                ours = dict(item)
                result["face_data"].append(ours)
                if item.get("face_image"):
                    jobs.append((ours, "face_image", f"face-{i}", "image"))
    resource_origins: dict[str, tuple[str, str]] = {}
    voices = []
    for i, item in enumerate(upstream.get("voices") or []):
        if not isinstance(item, dict):
            continue
        ours = {**item, "voice_id": task.task_id}  # the gateway's voice id is the task id
        if item.get("voice_id"):
            resource_origins[task.task_id] = (channel.name, str(item["voice_id"]))
        voices.append(ours)
        jobs.append((ours, "trial_url", f"voice-{i}-trial", "mp3"))
    elements = []
    for item in upstream.get("elements") or []:
        if not isinstance(item, dict):
            continue
        ours, element_jobs = _element(item, task)
        if item.get("element_id") is not None:
            resource_origins[task.task_id] = (channel.name, str(item["element_id"]))
        elements.append(ours)
        jobs.extend(element_jobs)

    async def run(job: tuple[dict[str, Any], str, str, str]) -> None:
        target, key, name, kind = job
        target[key] = await mirror.copy(target[key], name, kind)

    await asyncio.gather(*(run(job) for job in jobs))
    lists = (("videos", videos), ("images", images), ("series_images", image_lists["series_images"]))
    for key, items in (*lists, ("audios", audios), ("voices", voices), ("elements", elements)):
        if items or key in upstream:
            result[key] = items
    if isinstance(upstream.get("result_type"), str):  # omni-image: single or series
        result["result_type"] = upstream["result_type"]

    extra: dict[str, Any] = {}
    parent = (
        (data.get("task_info") or {}).get("parent_video") if isinstance(data.get("task_info"), dict) else None
    )
    if prepared.parent is not None:
        record = prepared.parent
        duration = parent.get("duration") if isinstance(parent, dict) else None
        extra["parent_video"] = {
            "id": record.video_id,
            "url": record.url,
            "duration": str(duration) if duration is not None else f"{record.duration:g}",
        }
    fud = data.get("final_unit_deduction")
    return EngineOutcome(
        task_result=result,
        task_info_extra=extra,
        final_unit_deduction=str(fud) if fud is not None else None,
        video_origins=origins,
        resource_origins=resource_origins,
    )


def _element(item: dict[str, Any], task: EngineTask) -> tuple[dict[str, Any], list[Any]]:
    """An upstream element with the gateway's ids (element id = task id, the bound voice as the
    client named it) and the mirror jobs of its reference files."""
    ours = {**item, "element_id": int(task.task_id)}
    jobs: list[Any] = []
    images = item.get("element_image_list")
    if isinstance(images, dict):
        images = ours["element_image_list"] = {**images}
        if images.get("frontal_image"):
            jobs.append((images, "frontal_image", "element-frontal", "image"))
        refers = [dict(r) for r in images.get("refer_images") or [] if isinstance(r, dict)]
        images["refer_images"] = refers
        jobs += [
            (r, "image_url", f"element-refer-{k}", "image")
            for k, r in enumerate(refers)
            if r.get("image_url")
        ]
    videos = item.get("element_video_list")
    if isinstance(videos, dict):
        refer = [dict(v) for v in videos.get("refer_videos") or [] if isinstance(v, dict)]
        ours["element_video_list"] = {**videos, "refer_videos": refer}
        jobs += [
            (v, "video_url", f"element-video-{k}", "video") for k, v in enumerate(refer) if v.get("video_url")
        ]
    voice = item.get("element_voice_info")
    if isinstance(voice, dict):
        voice = ours["element_voice_info"] = {**voice}
        if task.request.get("element_voice_id"):
            voice["voice_id"] = task.request["element_voice_id"]
        if voice.get("trial_url"):
            jobs.append((voice, "trial_url", "element-voice-trial", "mp3"))
    return ours, jobs
