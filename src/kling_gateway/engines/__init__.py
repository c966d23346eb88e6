"""Engines fulfil tasks: the offline reference engine and the upstream relay."""

from ..errors import RescheduleTask, TaskFailure, TransientEngineError  # what an engine raises
from .base import (
    STORAGE_SCHEME,
    Engine,
    EngineContext,
    EngineOutcome,
    EngineTask,
    SelectionSession,
    VideoRecord,
    storage_ref,
)

__all__ = [
    "STORAGE_SCHEME",
    "Engine",
    "EngineContext",
    "EngineOutcome",
    "EngineTask",
    "RescheduleTask",
    "SelectionSession",
    "TaskFailure",
    "TransientEngineError",
    "VideoRecord",
    "storage_ref",
]
