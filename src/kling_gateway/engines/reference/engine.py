"""The reference engine: real media made by classic means, shaped exactly like Kling's."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from kling_gateway.config import Settings
from kling_gateway.engines.base import (
    EngineBase,
    EngineContext,
    EngineOutcome,
    EngineTask,
)
from kling_gateway.errors import TaskFailure, TransientEngineError
from kling_gateway.ids import new_numeric_id
from kling_gateway.schemas.elements import ELEMENTS
from kling_gateway.schemas.voices import VOICES
from kling_gateway.standard2 import is_standard2
from kling_gateway.standard2.products import PRODUCTS

from .face_inputs import FACE_GATHERERS
from .inputs import GATHERERS, Prepared
from .jobs import RenderedFile, RenderJob
from .pool import clean_stale_temp_dirs, make_pool, make_temp_dir
from .render import RENDERERS, render
from .seeding import request_seed
from .sizing import duration_text
from .standard2_families import FPS
from .standard2_families import duration_text as frames_duration_text
from .standard2_inputs import gather_standard2
from .watermark import watermark_name

# The legacy families' gatherers, and one shared gatherer for every new-standard product.
ALL_GATHERERS = {
    **GATHERERS,
    **FACE_GATHERERS,
    **{p.family: gather_standard2 for p in PRODUCTS.values()},
}

SUBMITTED_PAUSE_S = 9.0  # spec §17.3: a task sits in "submitted" about 9 s
FINISH_PAUSE_S = 2.0


class ReferenceEngine(EngineBase):
    """Implements :class:`~kling_gateway.engines.base.Engine` for every family it can draw.

    Rendering happens in a pool of worker processes (``settings.engine_processes``, or one per
    core), so the event loop only fetches inputs and stores results.
    """

    name = "reference"

    def __init__(self, settings: Settings):
        self._settings = settings
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        clean_stale_temp_dirs()  # what a killed predecessor left behind

    def serves(self, family: str, model_name: str | None = None) -> bool:
        return family in RENDERERS

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                workers = self._settings.engine_processes or os.cpu_count() or 1
                # its processes die with this one, even on kill -9, and yield the CPU to the API
                self._pool = make_pool(workers, self._settings.engine_niceness)
            return self._pool

    async def _render(self, job: RenderJob) -> list[RenderedFile]:
        pool = self._executor()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, render, job)
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise TransientEngineError("reference engine worker process died", retry_after=1.0) from None

    async def run(self, task: EngineTask, ctx: EngineContext) -> EngineOutcome:
        gather = ALL_GATHERERS.get(task.family)
        if gather is None:
            raise TaskFailure(f"{task.family} is not supported by the reference engine")
        prepared = await gather(task, ctx)
        if self._settings.engine_pacing:
            await asyncio.sleep(SUBMITTED_PAUSE_S)
        await ctx.mark_processing()
        out_dir = make_temp_dir()
        try:
            job = RenderJob(
                family=task.family,
                request=task.request,
                seed=request_seed(task.family, task.request),
                out_dir=out_dir,
                inputs=prepared.inputs,
                params=prepared.params,
            )
            files = await self._render(job)
            result = await _task_result(task, ctx, files, prepared)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
        if self._settings.engine_pacing:
            await asyncio.sleep(FINISH_PAUSE_S)
        extra = {"parent_video": prepared.parent_video} if prepared.parent_video is not None else {}
        # the charge is the ledger's (re-priced from the output's length where it follows an input)
        return EngineOutcome(task_result=result, task_info_extra=extra)

    async def close(self) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """Stop the render pool (waits for running renders; callable from sync code)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


async def _task_result(
    task: EngineTask, ctx: EngineContext, files: list[RenderedFile], prepared: Prepared
) -> dict[str, Any]:
    """Store the files and describe them in the wire shape of spec §10."""
    refs = {}
    for f in files:
        refs[f.name] = await ctx.put_result(f"{task.task_id}/{f.name}", f.path, f.content_type)
    result: dict[str, Any] = {}
    videos = []
    for f in files:
        if f.role == "video":
            shown = standard2_duration(f.seconds) if is_standard2(task.family) else duration_text(f.seconds)
            item = {"id": new_numeric_id(), "url": refs[f.name], "duration": shown, **_marked(f, refs)}
            if prepared.session_id is not None:
                item["session_id"] = prepared.session_id
            videos.append(item)
    images = [{"index": f.index, "url": refs[f.name], **_marked(f, refs)} for f in files if f.role == "image"]
    series = [
        {"index": f.index, "url": refs[f.name], **_marked(f, refs)} for f in files if f.role == "series"
    ]
    mp3s = [f for f in files if f.role == "mp3"]
    wavs = [f for f in files if f.role == "wav"]
    audios = [
        {
            "id": new_numeric_id(),
            "url_mp3": refs[mp3.name],
            "url_wav": refs[wav.name],
            "duration_mp3": duration_text(mp3.seconds),
            "duration_wav": duration_text(wav.seconds),
        }
        for mp3, wav in zip(mp3s, wavs, strict=True)
    ]
    # speech (audio/tts): one mp3 whose id is the task id, reusable as ``audio_id``
    audios += [
        {"id": task.task_id, "url": refs[f.name], "duration": duration_text(f.seconds)}
        for f in files
        if f.role == "speech"
    ]
    if videos:
        result["videos"] = videos
    if task.family == "images/omni-image":
        result["result_type"] = "series" if series else "single"
    if images:
        result["images"] = images
    if series:
        result["series_images"] = series
    if audios:
        result["audios"] = audios
    if task.family == ELEMENTS:
        result["elements"] = [_element_record(task, files, refs)]
    result.update(_face_tools_result(task, files, refs, prepared))
    if task.family == VOICES:
        trial = next(f for f in files if f.role == "trial")
        voice = {"voice_name": task.request.get("voice_name"), "trial_url": refs[trial.name]}
        result["voices"] = [{"voice_id": task.task_id, **voice, "owned_by": "user"}]  # id: see voice_refs
    return result


def _face_tools_result(
    task: EngineTask, files: list[RenderedFile], refs: dict[str, str], prepared: Prepared
) -> dict[str, Any]:
    """identify-face (faces; the session id is the task id, see face_refs), image-recognize
    (masks) and ai-multi-shot (sets of side views): their own result shapes."""
    out: dict[str, Any] = {}
    source = next((f for f in files if f.role == "source"), None)
    if source is not None and prepared.parent_video is not None and not prepared.parent_video.get("url"):
        prepared.parent_video["url"] = refs[source.name]
    if task.family == "videos/identify-face":
        out["session_id"] = task.task_id
        out["face_data"] = [
            {
                "face_id": f.meta["face_id"],
                "face_image": refs[f.name],
                "start_time": f.meta["start_time"],
                "end_time": f.meta["end_time"],
            }
            for f in files
            if f.role == "face"
        ]
    masks = [
        {"type": f.meta["type"], "is_contain": f.meta["is_contain"], "url": refs[f.name]}
        for f in files
        if f.role == "mask"
    ]
    if masks:
        out["images"] = masks
    shots: dict[int, dict[str, Any]] = {}
    for f in files:
        if f.role == "shot":
            shots.setdefault(f.index, {"index": f.index})[f.meta["slot"]] = refs[f.name]
    if shots:
        out["images"] = [shots[k] for k in sorted(shots)]
    return out


def _marked(f: RenderedFile, refs: dict[str, str]) -> dict[str, str]:
    """``watermark_url`` of a media item whose watermarked copy was rendered (none otherwise)."""
    copy = watermark_name(f.name)
    return {"watermark_url": refs[copy]} if copy in refs else {}


def standard2_duration(seconds: float) -> str:
    """Three decimals on the new standard (``"5.042"``)."""
    return frames_duration_text(int(round(seconds * FPS)))


def _element_record(task: EngineTask, files: list[RenderedFile], refs: dict[str, str]) -> dict[str, Any]:
    """The element a creation task made; its id is the task id (see element_refs)."""
    req = task.request
    images = [refs[f.name] for f in sorted(files, key=lambda f: f.index) if f.role == "element_image"]
    videos = [refs[f.name] for f in files if f.role == "element_video"]
    return {
        "element_id": int(task.task_id),
        "element_name": req.get("element_name"),
        "element_description": req.get("element_description"),
        "reference_type": req.get("reference_type"),
        "element_image_list": (
            {"frontal_image": images[0], "refer_images": [{"image_url": u} for u in images[1:]]}
            if images
            else None
        ),
        "element_video_list": {"refer_videos": [{"video_url": u} for u in videos]} if videos else None,
        "element_voice_info": (
            {"voice_id": req["element_voice_id"], "owned_by": "user"} if req.get("element_voice_id") else None
        ),
        "tag_list": req.get("tag_list") or [],
        "owned_by": "user",
        "status": "succeed",
    }
