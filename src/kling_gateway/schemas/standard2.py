"""Wire models of the new API standard (spec kling-api-more.md §3, §5), for OpenAPI and the SDK.

The server validates bodies with the catalogue's per-model rules (``standard2/rules.py``), not
with these models: the rules differ per model, these describe the common shape.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .tasks import Envelope, TaskStatus

ContentType = Literal[
    "prompt",
    "first_frame",
    "last_frame",
    "refer_image",
    "feature_video",
    "base_video",
    "element",
    "voice",
    "image",
    "video",
]


class RecordStatus(StrEnum):
    """A new-standard record's ``status``: the legacy ``TaskStatus`` with ``succeed`` spelled
    ``succeeded``. The one place the two spellings are mapped."""

    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @classmethod
    def of(cls, status: str) -> RecordStatus:
        """The record spelling of a legacy task status."""
        return cls.SUCCEEDED if status == TaskStatus.SUCCEED else cls(status)

    @property
    def task_status(self) -> TaskStatus:
        """The legacy spelling of this record status."""
        return TaskStatus.SUCCEED if self is RecordStatus.SUCCEEDED else TaskStatus(self.value)

    @property
    def is_terminal(self) -> bool:
        return self.task_status.is_terminal


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentItem(_Open):
    type: ContentType
    text: str | None = Field(default=None, description="type prompt; reference inputs as @<id>")
    url: str | None = Field(default=None, description="media types: URL or raw Base64")
    id: str | None = Field(
        default=None, description="name used as @<id> in prompts; required for element/voice"
    )
    element_id: int | str | None = None
    voice_id: str | None = None


class Settings2(_Open):
    resolution: Literal["720p", "1080p", "4k"] | None = Field(default=None, description="default 720p")
    aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None
    duration: int | None = Field(default=None, description="seconds, a JSON integer; default 5")
    audio: Literal["native", "original", "off"] | None = None
    multi_shot: bool | None = Field(default=None, description="kling-3.0 / 3.0-omni; default true")
    character_orientation: Literal["image", "video"] | None = Field(
        default=None, description="motion-control"
    )


class WatermarkInfo(_Open):
    enabled: bool = False


class Options2(_Open):
    callback_url: str | None = None
    external_task_id: str | None = None
    watermark_info: WatermarkInfo | None = None


class TextToVideoBody(_Open):
    """``POST /text-to-video/{model}``."""

    prompt: str
    settings: Settings2 | None = None
    options: Options2 | None = None


class ContentsBody(_Open):
    """``POST /image-to-video|omni-video|motion-control/{model}``."""

    contents: list[ContentItem] = Field(min_length=1)
    settings: Settings2 | None = None
    options: Options2 | None = None


class Output(_Open):
    type: Literal["video", "image", "audio", "voice", "element"]
    id: str | None = None
    url: str | None = None
    watermark_url: str | None = None
    duration: str | None = Field(default=None, description="video: seconds, three decimals")


class BillingEntry(_Open):
    charge_type: Literal["cash", "unit"]
    amount: str
    package_type: str | None = None
    cash_type: str | None = None
    currency: str | None = None
    list_price: str | None = None


class Record(_Open):
    id: str
    status: RecordStatus
    message: str = ""
    create_time: int
    update_time: int
    external_id: str | None = None
    outputs: list[Output] = Field(default_factory=list)
    billing: list[BillingEntry] = Field(default_factory=list)


class CreatedRecord(_Open):
    id: str
    status: RecordStatus
    create_time: int
    update_time: int
    external_id: str | None = None


class Filter(_Open):
    key: Literal["status", "product_type"]
    values: list[str]


class TaskListBody(_Open):
    """``POST /tasks``: cursor listing."""

    start_time: int | str | None = Field(default=None, description="ms; default end_time − 30 days")
    end_time: int | str | None = Field(default=None, description="ms; default now")
    cursor: str | None = Field(default=None, description="next_cursor of the previous page; times ignored")
    limit: int | None = Field(default=None, description="1–500, default 100")
    filters: list[Filter] | None = None


class RecordPage(_Open):
    result: list[Record]
    count: int
    next_cursor: str
    has_more: bool


class CreatedRecordEnvelope(Envelope):
    data: CreatedRecord


class RecordListEnvelope(Envelope):
    data: list[Record]


class RecordPageEnvelope(Envelope):
    data: RecordPage
