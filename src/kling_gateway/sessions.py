"""Multi-elements selection sessions (spec §8.4 steps 1–5) as the routes see them. Nothing here
knows HTTP.

A session remembers its normalised source video (in storage) and the clicked point groups; the
multi-elements task later reads both. Masks and previews are computed off the event loop. Files
are returned as ``storage:<key>`` references; the API turns them into signed URLs.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .config import Settings
from .engines.base import STORAGE_SCHEME, storage_ref
from .errors import FetchError, TaskFailure, invalid_parameter, kling_error
from .ids import now_ms
from .media.fetch import fetch_input
from .storage import Storage
from .store import TaskStore

SESSION_TTL_MS = 24 * 3600 * 1000
PREVIEW_FILES = (
    ("video", "mp4", "video/mp4"),
    ("video_cover", "png", "image/png"),
    ("tracking_output", "mp4", "video/mp4"),
)


def missing_session(session_id: str) -> str:
    """The words for an unknown, foreign or expired session (after ``<field>: ``), everywhere."""
    return f"selection session '{session_id}' does not exist or expired"


def _selection_module() -> ModuleType:  # PyAV and numpy are only loaded when a selection call is made
    from .engines.reference import selection

    return selection


@dataclass(frozen=True)
class StartedSession:
    session_id: str
    facts: dict[str, Any]  # fps, original_duration, width, height, total_frame
    normalized_video: str  # storage:<key>


@dataclass(frozen=True)
class FrameMasks:
    session_id: str
    frame_index: int
    masks: list[dict[str, Any]]  # RLE masks of every point group on the frame


class SelectionService:
    def __init__(self, store: TaskStore, storage: Storage, settings: Settings):
        self.store = store
        self.storage = storage
        self.settings = settings

    async def session(self, account_id: str, session_id: str) -> dict[str, Any]:
        found = await self.store.session(session_id, account_id, now_ms())
        if found is None:
            raise invalid_parameter(f"session_id: {missing_session(session_id)}")
        return found

    async def _source_video(self, account_id: str, video_id: str | None, video_url: str | None) -> bytes:
        if video_id:
            video = await self.store.video(video_id, account_id)
            if video is None:
                raise invalid_parameter(f"video_id: video '{video_id}' does not exist for this account")
            url = video["url"]
            if url.startswith(STORAGE_SCHEME):
                return await self.storage.read_bytes(url[len(STORAGE_SCHEME) :])
            return await fetch_input(url, field="video_id", kind="video", settings=self.settings)
        return await fetch_input(str(video_url), field="video_url", kind="video", settings=self.settings)

    async def start(self, account_id: str, video_id: str | None, video_url: str | None) -> StartedSession:
        """init-selection: analyse and normalise the source video, store it, open a session."""
        try:
            data = await self._source_video(account_id, video_id, video_url)
            facts = await asyncio.to_thread(_selection_module().analyze, data, strict=True)
        except (FetchError, TaskFailure) as exc:
            raise kling_error(exc) from None
        session_id = "sess_" + secrets.token_hex(10)
        key = f"sessions/{session_id}/normalized.mp4"
        await self.storage.put_bytes(key, facts.pop("normalized_video"), "video/mp4")
        info = {
            "fps": facts["fps"],
            "width": facts["width"],
            "height": facts["height"],
            "duration": facts["original_duration"] / 1000,
            "total_frame": facts["total_frame"],
        }
        now = now_ms()
        await self.store.insert_session(
            {
                "id": session_id,
                "account_id": account_id,
                "video_id": video_id,
                "video_url": storage_ref(key),
                "info": json.dumps(info),
                "selections": "[]",
                "created_at": now,
                "expires_at": now + SESSION_TTL_MS,
            }
        )
        return StartedSession(session_id, facts, storage_ref(key))

    async def add(
        self, account_id: str, session_id: str, frame_index: int, points: list[dict[str, float]]
    ) -> FrameMasks:
        session = await self.session(account_id, session_id)
        total = json.loads(session["info"])["total_frame"]
        if frame_index >= total:
            raise invalid_parameter(f"frame_index: {frame_index} is past the last frame ({total - 1})")
        selections = json.loads(session["selections"])
        selections.append({"frame_index": frame_index, "points": points})
        await self.store.update_session(session["id"], selections)
        return await self._masks(session, frame_index, selections)

    async def delete(
        self, account_id: str, session_id: str, frame_index: int, points: list[dict[str, float]]
    ) -> FrameMasks:
        session = await self.session(account_id, session_id)
        selections = json.loads(session["selections"])
        wanted = {"frame_index": frame_index, "points": points}
        if wanted not in selections:
            raise invalid_parameter("points: no selection with exactly these points on this frame")
        selections.remove(wanted)
        await self.store.update_session(session["id"], selections)
        return await self._masks(session, frame_index, selections)

    async def clear(self, account_id: str, session_id: str) -> str:
        session = await self.session(account_id, session_id)
        await self.store.update_session(session["id"], [])
        return str(session["id"])

    async def preview(self, account_id: str, session_id: str) -> dict[str, str]:
        """preview-selection: the tracked preview, its cover and the tracking output, stored;
        returns ``{name: storage:<key>}``."""
        session = await self.session(account_id, session_id)
        selections = json.loads(session["selections"])
        if not selections:
            raise invalid_parameter("session_id: add a selection before previewing")
        video = await self._video(session)
        files = await asyncio.to_thread(_selection_module().preview, video, selections)
        stamp = now_ms()
        refs = {}
        for (name, ext, ctype), data in zip(PREVIEW_FILES, files, strict=True):
            key = f"sessions/{session['id']}/preview-{stamp}-{name}.{ext}"
            await self.storage.put_bytes(key, data, ctype)
            refs[name] = storage_ref(key)
        return refs

    async def _video(self, session: dict[str, Any]) -> bytes:
        return await self.storage.read_bytes(session["video_url"][len(STORAGE_SCHEME) :])

    async def _masks(
        self, session: dict[str, Any], frame_index: int, selections: list[dict[str, Any]]
    ) -> FrameMasks:
        points = [p for s in selections if s["frame_index"] == frame_index for p in s["points"]]
        masks: list[dict[str, Any]] = []
        if points:
            video = await self._video(session)
            masks = await asyncio.to_thread(_selection_module().segment, video, frame_index, points)
        return FrameMasks(str(session["id"]), frame_index, masks)
