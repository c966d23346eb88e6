"""The task object and the response envelope (spec §5, §6, §10), also used by the SDK."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TaskStatus(StrEnum):
    """A task's ``task_status`` (spec §5). Members are ``str``: they compare equal to, hash like
    and serialise as the wire strings, so a status read from the store needs no conversion."""

    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEED = "succeed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """``succeed`` or ``failed``: the status never changes again."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES: frozenset[TaskStatus] = frozenset({TaskStatus.SUCCEED, TaskStatus.FAILED})
ACTIVE_STATUSES: tuple[TaskStatus, ...] = (TaskStatus.SUBMITTED, TaskStatus.PROCESSING)  # may still change


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ParentVideo(_Open):
    id: str
    url: str
    duration: str


class TaskInfo(_Open):
    external_task_id: str | None = None
    parent_video: ParentVideo | None = None


class VideoResult(_Open):
    id: str
    url: str
    duration: str
    watermark_url: str | None = None
    session_id: str | None = None


class ImageResult(_Open):
    """An image; image-recognize masks have ``type``/``is_contain`` instead of ``index``, and
    ai-multi-shot sets carry ``url_1``–``url_3`` instead of ``url``."""

    index: int | None = None
    url: str | None = None
    watermark_url: str | None = None
    type: str | None = None
    is_contain: bool | None = None
    url_1: str | None = None
    url_2: str | None = None
    url_3: str | None = None


class FaceResult(_Open):
    """A face identify-face found: its crop and lip-syncable window (ms)."""

    face_id: str
    face_image: str
    start_time: int
    end_time: int


class AudioResult(_Open):
    id: str
    url_mp3: str | None = None
    url_wav: str | None = None
    duration_mp3: str | None = None
    duration_wav: str | None = None
    url: str | None = None
    duration: str | None = None


class VoiceResult(_Open):
    """A custom or preset voice (spec more §7.6); ``trial_url`` is an mp3 excerpt."""

    voice_id: str
    voice_name: str
    trial_url: str
    owned_by: str


class TaskResult(_Open):
    videos: list[VideoResult] | None = None
    images: list[ImageResult] | None = None
    audios: list[AudioResult] | None = None
    session_id: str | None = None  # identify-face
    face_data: list[FaceResult] | None = None
    voices: list[VoiceResult] | None = None


class WatermarkState(_Open):
    enabled: bool = False


class BalanceDeduction(_Open):
    """``final_balance_deduction`` (spec-more §8): cash taken from a balance (the gateway draws
    packs only: "0") and what the charged units are worth at list price (docs/accounting.md)."""

    quota: str
    list_price: str


class Task(_Open):
    """A task as a query returns it (and, bare, as a callback body)."""

    task_id: str
    task_status: TaskStatus
    task_status_msg: str = ""
    task_info: TaskInfo = Field(default_factory=TaskInfo)
    task_result: TaskResult = Field(default_factory=TaskResult)
    watermark_info: WatermarkState | None = None
    final_unit_deduction: str | None = None
    final_balance_deduction: BalanceDeduction | None = None
    created_at: int
    updated_at: int

    @property
    def is_terminal(self) -> bool:
        return self.task_status in TERMINAL_STATUSES


class CreatedTask(_Open):
    task_id: str
    task_status: TaskStatus
    task_info: TaskInfo = Field(default_factory=TaskInfo)
    created_at: int
    updated_at: int


class Envelope(_Open):
    code: int
    message: str
    request_id: str | None = None
    data: Any = None


class TaskEnvelope(Envelope):
    data: Task


class CreatedEnvelope(Envelope):
    data: CreatedTask


class TaskListEnvelope(Envelope):
    data: list[Task]


class ErrorBody(BaseModel):
    code: int = Field(description="Kling business code (spec §7.1)")
    message: str
    request_id: str
