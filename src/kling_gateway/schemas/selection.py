"""Bodies of the synchronous multi-elements selection calls (spec §8.4, steps 1–5)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from .common import WireModel, exactly_one


class InitSelectionRequest(WireModel):
    video_id: str | None = None
    video_url: str | None = None
    task_id: str | None = None  # CometAPI sends the parent task with video_id

    @model_validator(mode="after")
    def _one_source(self) -> InitSelectionRequest:
        exactly_one(self, "video_id", "video_url")
        return self


class SelectionPoint(WireModel):
    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)


class SelectionPointsRequest(WireModel):
    """add-selection and delete-selection."""

    session_id: str = Field(min_length=1)
    frame_index: int = Field(ge=0)
    points: list[SelectionPoint] = Field(min_length=1, max_length=10)


class SessionRequest(WireModel):
    """clear-selection and preview-selection."""

    session_id: str = Field(min_length=1)


class InitSelectionData(WireModel):
    status: int
    session_id: str
    final_unit_deduction: str
    fps: float
    original_duration: int
    width: int
    height: int
    total_frame: int
    normalized_video: str


class SelectionResult(WireModel):
    res: dict[str, Any]
