"""The services a worker hands an engine for one task attempt (``EngineContext``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..audio_refs import tts_audio_url
from ..config import Settings
from ..element_refs import own_element, preset
from ..engines.base import (
    STORAGE_SCHEME,
    SelectionSession,
    VideoRecord,
    storage_ref,
)
from ..errors import FetchError, TaskFailure, TransientEngineError
from ..face_refs import face_session, missing_face_session
from ..ids import now_ms
from ..media.fetch import fetch_input
from ..push import ChangeHub, TaskChange
from ..schemas.tasks import TaskStatus
from ..sessions import missing_session
from ..storage import Storage
from ..store import TaskRow, TaskStore


def attempt_prefix(task_id: str, attempt: int) -> str:
    """Each attempt writes under its own prefix, so a lost worker never overwrites a winner."""
    return f"{task_id}/a{attempt}/"


class WorkerContext:
    def __init__(
        self, row: TaskRow, owner: str, store: TaskStore, storage: Storage, hub: ChangeHub, settings: Settings
    ):
        self.row = row
        self.owner = owner
        self.store = store
        self.storage = storage
        self.hub = hub
        self.settings = settings
        self.prefix = attempt_prefix(row.id, row.attempts)
        self.wrote_files = False

    async def fetch_input(self, value: str, *, field: str, kind: str) -> bytes:
        try:
            return await fetch_input(value, field=field, kind=kind, settings=self.settings)
        except FetchError as exc:
            if exc.retryable:  # timeouts, 5xx, 429 from the source: worth another attempt
                raise TransientEngineError(exc.message) from None
            raise TaskFailure(exc.message) from None

    async def resolve_video(self, video_id: str, *, field: str) -> VideoRecord:
        found = await self.store.video(video_id, self.row.account_id)
        if found is None:
            raise TaskFailure(f"{field}: video '{video_id}' does not exist for this account")
        return VideoRecord(
            video_id=found["id"],
            task_id=found["task_id"],
            account_id=found["account_id"],
            url=found["url"],
            duration=found["duration"],
            channel=found["channel"],
            upstream_video_id=found["upstream_video_id"],
        )

    async def read_video(self, record: VideoRecord) -> bytes:
        return await self.read_stored(record.url, field=f"video_id '{record.video_id}'", kind="video")

    async def resolve_audio(self, audio_id: str, *, field: str) -> str:
        url = tts_audio_url(await self.store.get(audio_id), self.row.account_id, now_ms())
        if url is None:
            raise TaskFailure(f"{field}: audio '{audio_id}' does not exist for this account")
        return url

    async def resolve_element(self, element_id: str, *, field: str) -> dict[str, Any]:
        element = preset(element_id) or own_element(await self.store.get(element_id), self.row.account_id)
        if element is None:
            raise TaskFailure(f"{field}: element '{element_id}' does not exist for this account")
        return element

    async def resource_origin(self, resource_id: str, kind: str) -> tuple[str | None, str | None] | None:
        found = await self.store.resources.live(resource_id, kind, self.row.account_id)
        return (found.channel, found.upstream_id) if found is not None else None

    async def read_stored(self, url: str, *, field: str, kind: str) -> bytes:
        if url.startswith(STORAGE_SCHEME):
            try:
                return await self.storage.read_bytes(url[len(STORAGE_SCHEME) :])
            except FileNotFoundError:
                raise TaskFailure(f"{field}: the file is no longer stored (past retention)") from None
        return await self.fetch_input(url, field=field, kind=kind)

    async def put_result(self, key: str, data: bytes | str, content_type: str) -> str:
        name = key.split("/", 1)[1] if key.startswith(self.row.id + "/") else key.replace("/", "_")
        full_key = self.prefix + name
        if isinstance(data, bytes | bytearray):
            await self.storage.put_bytes(full_key, bytes(data), content_type)
        else:
            await self.storage.put_file(full_key, Path(data), content_type)
        self.wrote_files = True
        return storage_ref(full_key)

    async def selection_session(self, session_id: str, *, field: str) -> SelectionSession:
        found = await self.store.session(session_id, self.row.account_id, now_ms())
        if found is None:
            raise TaskFailure(f"{field}: {missing_session(session_id)}")
        info = json.loads(found["info"])
        video = await self.resolve_video(found["video_id"], field=field) if found["video_id"] else None
        return SelectionSession(
            session_id=found["id"],
            account_id=found["account_id"],
            video=video,
            video_url=found["video_url"],
            duration=info["duration"],
            width=info["width"],
            height=info["height"],
            fps=info["fps"],
            total_frame=info["total_frame"],
            selections=json.loads(found["selections"]),
        )

    async def face_session(self, session_id: str, *, field: str) -> dict[str, Any]:
        found = face_session(await self.store.get(session_id), self.row.account_id, now_ms())
        if found is None:
            raise TaskFailure(f"{field}: {missing_face_session(session_id)}")
        return found

    async def mark_processing(self) -> None:
        now = now_ms()
        moved = await self.store.transition(
            self.row.id,
            from_statuses=(TaskStatus.SUBMITTED,),
            to_status=TaskStatus.PROCESSING,
            now=now,
            owner=self.owner,
        )
        if moved:
            self.hub.publish(TaskChange(self.row.id, self.row.account_id, TaskStatus.PROCESSING, now))

    async def discard_files(self) -> None:
        if self.wrote_files:
            await self.storage.delete_prefix(self.prefix)
