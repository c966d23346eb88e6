"""The result-storage interface. Keys are relative POSIX paths such as ``<task_id>/video-0.mp4``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str


@dataclass(frozen=True)
class ObjectInfo(StoredObject):
    """A :class:`StoredObject` with the validators HTTP caching needs (when the backend has them)."""

    etag: str | None = None
    modified: float | None = None  # unix time


class Storage(Protocol):
    async def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredObject: ...

    async def put_file(self, key: str, path: Path, content_type: str) -> StoredObject: ...

    async def stat(self, key: str) -> StoredObject | None: ...

    async def read_bytes(self, key: str) -> bytes: ...

    def stream(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``start``..``end`` inclusive (HTTP Range semantics)."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix``; returns how many were removed."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for the object when the backend is local, else None."""
        ...


@runtime_checkable
class Presigner(Protocol):
    """A back end that can hand out its own expiring URLs (S3 presigned URLs)."""

    async def presigned_url(self, key: str, ttl: int) -> str: ...
