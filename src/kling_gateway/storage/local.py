"""Results kept in a local directory.

Layout: the object ``<key>`` is the file ``<root>/<key>``; its content type is kept in a sidecar
``<root>/.content-type/<key>`` (a one-line text file), so the type given to ``put_*`` is the type
served, whatever the extension. A file without sidecar (copied in by hand) gets a type derived
from its extension. Keys may not have segments starting with ``.``, which keeps the sidecar tree
and temporary files out of the key space.

Writes are atomic (temporary file in the target directory, fsync, ``os.replace``) and run in a
worker thread, as do reads, so big files never block the event loop.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO

from ..fsmodes import DIR_MODE
from .base import ObjectInfo, StoredObject

CHUNK_SIZE = 64 * 1024
_SIDECAR_DIR = ".content-type"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Types the gateway writes, fixed here so they do not depend on the host's /etc/mime.types.
_KNOWN_TYPES = {
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".json": "application/json",
}


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative POSIX path, else raise ``ValueError``.

    Refused: empty keys, absolute paths, backslashes, NUL and other control characters, empty
    segments (``a//b``) and segments starting with ``.`` (``..``, ``.``, hidden names).
    """
    if not isinstance(key, str) or not key:
        raise ValueError("storage key must be a non-empty string")
    if key.startswith("/") or "\\" in key:
        raise ValueError(f"storage key must be a relative POSIX path: {key!r}")
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in key):
        raise ValueError(f"storage key contains control characters: {key!r}")
    for segment in key.split("/"):
        if not segment or segment.startswith("."):
            raise ValueError(f"storage key has an empty, '.' or '..' segment: {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """A ``delete_prefix`` argument: a key naming a directory-like group (trailing ``/`` allowed)."""
    return validate_key(prefix.rstrip("/") if isinstance(prefix, str) else prefix)


def guess_content_type(key: str) -> str:
    suffix = os.path.splitext(key)[1].lower()
    return _KNOWN_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or DEFAULT_CONTENT_TYPE


def check_range(start: int, end: int | None) -> None:
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range {start}-{end}")


class LocalStorage:
    """:class:`~kling_gateway.storage.base.Storage` on a directory."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    # -- paths

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _sidecar(self, key: str) -> Path:
        return self.root / _SIDECAR_DIR / validate_key(key)

    def local_path(self, key: str) -> Path | None:
        """Where the object's file is (or would be); the file may not exist."""
        return self._path(key)

    # -- writes

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredObject:
        target = self._path(key)
        await asyncio.to_thread(self._write, key, target, lambda fh: fh.write(data), content_type)
        return await self._require(key)

    async def put_file(self, key: str, path: Path, content_type: str) -> StoredObject:
        target = self._path(key)

        def copy(fh: BinaryIO) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, fh, 1024 * 1024)

        await asyncio.to_thread(self._write, key, target, copy, content_type)
        return await self._require(key)

    def _write(self, key: str, target: Path, fill: Callable[[BinaryIO], object], content_type: str) -> None:
        # The sidecar goes first: a reader never sees new data with a missing type.
        _atomic_write(self._sidecar(key), lambda fh: fh.write(content_type.encode()))
        _atomic_write(target, fill)

    # -- reads

    async def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        return await asyncio.to_thread(self._stat, key, path)

    def _stat(self, key: str, path: Path) -> ObjectInfo | None:
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        try:
            content_type = self._sidecar(key).read_text().strip() or guess_content_type(key)
        except (FileNotFoundError, NotADirectoryError):
            content_type = guess_content_type(key)
        etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}-{st.st_ino:x}"'
        return ObjectInfo(key, st.st_size, content_type, etag=etag, modified=st.st_mtime)

    async def _require(self, key: str) -> ObjectInfo:
        info = await self.stat(key)
        if info is None:
            raise FileNotFoundError(key)
        return info

    async def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (NotADirectoryError, IsADirectoryError):
            raise FileNotFoundError(key) from None

    async def stream(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``start``..``end`` inclusive in chunks of at most 64 KiB (``end`` clamped to the size)."""
        check_range(start, end)
        path = self._path(key)
        try:
            fh = await asyncio.to_thread(open, path, "rb")
        except (NotADirectoryError, IsADirectoryError):
            raise FileNotFoundError(key) from None
        try:
            await asyncio.to_thread(fh.seek, start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                size = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
                chunk = await asyncio.to_thread(fh.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(fh.close)

    # -- deletes

    async def delete_prefix(self, prefix: str) -> int:
        """Delete the object ``prefix`` and every object under ``prefix/``; returns the count.

        Matching is by path segment, so ``"task1"`` does not touch ``"task10/..."``.
        """
        base = validate_prefix(prefix)
        return await asyncio.to_thread(self._delete_tree, base)

    def _delete_tree(self, base: str) -> int:
        count = 0
        for root in (self.root, self.root / _SIDECAR_DIR):
            target = root / base
            counting = root == self.root
            if target.is_dir() and not target.is_symlink():
                if counting:
                    count += sum(len(files) for _d, _s, files in os.walk(target))
                shutil.rmtree(target, ignore_errors=True)
            elif target.exists() or target.is_symlink():
                target.unlink(missing_ok=True)
                count += 1 if counting else 0
        return count


def _atomic_write(target: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Write through a temporary file in the same directory, then rename it into place."""
    target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
