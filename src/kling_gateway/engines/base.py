"""The engine interface: given a task, produce its result or a Kling-style failure.

An engine never touches task status itself; the worker that claimed the task records the
outcome with a compare-and-set. Result files are written to :class:`~kling_gateway.storage.Storage`
and referenced from ``task_result`` as ``storage:<key>`` strings, which the API turns into signed
URLs each time the task is shown (so a stored task never holds an expiring URL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from ..push.hub import ChangeHub
    from ..store.tasks import TaskStore

STORAGE_SCHEME = "storage:"


def storage_ref(key: str) -> str:
    """The value stored in ``task_result`` for a file kept in the gateway's storage."""
    return STORAGE_SCHEME + key


@dataclass(frozen=True)
class EngineTask:
    """What an engine is given: the validated request exactly as the client sent it."""

    task_id: str
    account_id: str
    family: str  # e.g. "videos/text2video", "images/generations", "audio/text-to-audio"
    request: dict[str, Any]  # wire field names, defaults not filled in
    external_task_id: str | None = None
    attempt: int = 1


@dataclass
class EngineOutcome:
    """A finished task. ``task_result`` and ``task_info_extra`` are in wire shape."""

    task_result: dict[str, Any]
    task_info_extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"parent_video": {...}}
    final_unit_deduction: str | None = None
    # For relayed results: our video id -> (channel name, upstream video id), so follow-up tasks
    # (extend, lip-sync, video-to-audio, multi-elements) go back to the channel that made the video.
    video_origins: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The same for a relayed voice or element: our id -> (channel name, upstream id); tasks that
    # name it are pinned to that channel and get the upstream id.
    resource_origins: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class VideoRecord:
    """A video produced earlier for an account, addressable by its ``video_id``."""

    video_id: str
    task_id: str
    account_id: str
    url: str  # "storage:<key>" for local results, an absolute URL for passthrough relays
    duration: float
    channel: str | None = None
    upstream_video_id: str | None = None


@dataclass(frozen=True)
class SelectionSession:
    """State of a multi-elements selection session (init-selection ... preview-selection)."""

    session_id: str
    account_id: str
    video: VideoRecord | None  # when created from a video_id
    video_url: str | None  # "storage:<key>" of the normalized source video
    duration: float
    width: int
    height: int
    fps: float
    total_frame: int
    # [{"frame_index": int, "points": [{"x": float, "y": float}, ...]}, ...] in the order added
    selections: list[dict[str, Any]]


class EngineContext(Protocol):
    """Services the worker hands an engine for one run of one task."""

    @property
    def owner(self) -> str | None:
        """The worker's lease on the task (None outside a claim)."""
        ...

    async def fetch_input(self, value: str, *, field: str, kind: str) -> bytes:
        """Bytes of an input given as URL or Base64 (data: prefix tolerated).

        ``kind`` is "image", "video" or "audio" (selects the size cap). Raises TaskFailure
        naming ``field`` when the input cannot be had (private address, too large, timeout...).
        """
        ...

    async def resolve_video(self, video_id: str, *, field: str) -> VideoRecord:
        """A video of the same account by id; TaskFailure when unknown or foreign."""
        ...

    async def read_video(self, record: VideoRecord) -> bytes:
        """The bytes of a video record's file (local storage or mirrored URL)."""
        ...

    async def resolve_audio(self, audio_id: str, *, field: str) -> str:
        """The stored mp3 (``storage:<key>``) of an ``audio_id`` (a TTS audio of the same account);
        TaskFailure naming ``field`` when unknown, foreign or expired."""
        ...

    async def resolve_element(self, element_id: str, *, field: str) -> dict[str, Any]:
        """An element record (own or preset) by id; TaskFailure naming ``field`` when absent."""
        ...

    async def resource_origin(self, resource_id: str, kind: str) -> tuple[str | None, str | None] | None:
        """Where a live voice or element (``kind``) of the task's account was made: (channel,
        upstream id), both None when the gateway made it; None when it is no live resource."""
        ...

    async def read_stored(self, url: str, *, field: str, kind: str) -> bytes:
        """The bytes of a ``storage:<key>`` reference (or a URL kept for a passthrough result)."""
        ...

    async def put_result(self, key: str, data: bytes | str, content_type: str) -> str:
        """Store a result file (bytes, or a local path as str) under ``key``; returns ``storage:<key>``."""
        ...

    async def selection_session(self, session_id: str, *, field: str) -> SelectionSession:
        """A multi-elements selection session of the same account; TaskFailure when unknown/expired."""
        ...

    async def face_session(self, session_id: str, *, field: str) -> dict[str, Any]:
        """An identify-face session of the same account (``face_refs.face_session``'s record);
        TaskFailure naming ``field`` when unknown, foreign or expired."""
        ...

    async def mark_processing(self) -> None:
        """Move the task to ``processing`` (idempotent)."""
        ...


@dataclass(frozen=True)
class EngineServices:
    """What the gateway hands every engine once, before the workers start (:meth:`Engine.bind`).

    Most engines need none of it (the worker hands each run an :class:`EngineContext`); the relay
    uses the store for its slot accounting, the hub to hear tasks end, and ``wake_workers`` to
    run a task at once when an upstream calls back."""

    store: TaskStore
    hub: ChangeHub
    wake_workers: Callable[[], None]


class Engine(Protocol):
    """What the router and the workers call on an engine. Every hook is declared here;
    :class:`EngineBase` implements the optional ones as no-ops."""

    name: str
    # Whether :meth:`admit` has a rule of its own. Only then do creates run it, one task at a time
    # in the insert transaction (each task's row is written before the next one's rule reads);
    # without one, a batch of creates is inserted in one statement.
    admits: bool

    def serves(self, family: str, model_name: str | None) -> bool:
        """Whether this engine takes new tasks of ``family`` with ``model_name``."""
        ...

    def bind(self, services: EngineServices) -> None:
        """Called once by the gateway before the workers start."""
        ...

    async def admit(self, family: str, request: dict[str, Any], conn: AsyncConnection | None = None) -> None:
        """Refuse a create by raising :class:`~kling_gateway.errors.KlingError` (a relay channel's
        queue bound); runs in the task's insert transaction on ``conn`` (see
        ``Gateway._engine_admission``)."""
        ...

    async def run(self, task: EngineTask, ctx: EngineContext) -> EngineOutcome:
        """Do one run of ``task``: an outcome, or raise ``TaskFailure`` / ``TransientEngineError``
        / ``RescheduleTask`` (see :mod:`kling_gateway.errors`)."""
        ...

    async def health(self) -> dict[str, Any] | None:
        """What the operator's ``GET /admin/v1/channels`` shows of this engine (a relay channel's
        circuit, in-flight tasks, failovers); None for an engine with no upstream to watch."""
        ...

    async def forget(self, kind: str, upstream_id: str) -> None:
        """A voice or element (``kind``) this engine made upstream was deleted in the gateway:
        delete it upstream too (best effort: the gateway's own delete has already happened)."""
        ...

    async def close(self) -> None:
        """Release what the engine holds (pools, HTTP clients) when the gateway stops."""
        ...


class EngineBase:
    """Base for engines: the optional hooks of :class:`Engine` as no-ops."""

    name: str
    admits: bool = False  # set True where admit() is overridden

    def serves(self, family: str, model_name: str | None) -> bool:
        raise NotImplementedError

    def bind(self, services: EngineServices) -> None:
        return None

    async def admit(self, family: str, request: dict[str, Any], conn: AsyncConnection | None = None) -> None:
        return None

    async def run(self, task: EngineTask, ctx: EngineContext) -> EngineOutcome:
        raise NotImplementedError

    async def health(self) -> dict[str, Any] | None:
        return None

    async def forget(self, kind: str, upstream_id: str) -> None:
        return None

    async def close(self) -> None:
        return None
