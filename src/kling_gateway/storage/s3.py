"""Results kept in S3-compatible object storage, through obstore's ``S3Store``.

The content type is stored as the object's ``Content-Type`` attribute. Keys are validated like
local keys so both back ends accept exactly the same key space.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import S3Store

from .base import ObjectInfo, StoredObject
from .local import CHUNK_SIZE, DEFAULT_CONTENT_TYPE, check_range, validate_key, validate_prefix

if TYPE_CHECKING:  # obstore's TypedDicts exist only in its stubs
    from obstore import GetOptions
    from obstore.store import S3Config

_DELETE_BATCH = 1000  # the S3 DeleteObjects limit


class ObjectStorage:
    """:class:`~kling_gateway.storage.base.Storage` on an S3 bucket (optionally under a prefix).

    Credentials left as ``None`` are taken from the environment (``AWS_ACCESS_KEY_ID``...).
    ``allow_http`` permits a plain-HTTP endpoint (local test servers, in-cluster gateways).
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        allow_http: bool = False,
    ):
        config: S3Config = {}
        if endpoint:
            config["endpoint"] = endpoint
        if region:
            config["region"] = region
        if access_key:
            config["access_key_id"] = access_key
        if secret_key:
            config["secret_access_key"] = secret_key
        self.bucket = bucket
        self.prefix = prefix.strip("/") if prefix else None
        self.store = S3Store(
            bucket,
            prefix=self.prefix or None,
            config=config,
            client_options={"allow_http": allow_http},
        )

    def local_path(self, key: str) -> Path | None:
        return None

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredObject:
        await obstore.put_async(
            self.store, validate_key(key), data, attributes={"Content-Type": content_type}
        )
        return await self._require(key)

    async def put_file(self, key: str, path: Path, content_type: str) -> StoredObject:
        # obstore streams a Path in parts (multipart above 5 MB) without loading it whole.
        await obstore.put_async(
            self.store, validate_key(key), Path(path), attributes={"Content-Type": content_type}
        )
        return await self._require(key)

    async def stat(self, key: str) -> ObjectInfo | None:
        try:
            result = await obstore.get_async(self.store, validate_key(key), options={"head": True})
        except (NotFoundError, FileNotFoundError):
            return None
        meta = result.meta
        return ObjectInfo(
            key,
            meta["size"],
            result.attributes.get("Content-Type") or DEFAULT_CONTENT_TYPE,
            etag=_quoted(meta.get("e_tag")),
            modified=meta["last_modified"].timestamp(),
        )

    async def _require(self, key: str) -> ObjectInfo:
        info = await self.stat(key)
        if info is None:
            raise FileNotFoundError(key)
        return info

    async def read_bytes(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self.store, validate_key(key))
            return bytes(await result.bytes_async())
        except NotFoundError:
            raise FileNotFoundError(key) from None

    async def stream(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``start``..``end`` inclusive in chunks of about 64 KiB (``end`` clamped to the size)."""
        check_range(start, end)
        validate_key(key)
        if end is not None:
            options: GetOptions = {"range": (start, end + 1)}
        elif start:
            options = {"range": {"offset": start}}
        else:
            options = {}
        try:
            result = await obstore.get_async(self.store, key, options=options)
        except NotFoundError:
            raise FileNotFoundError(key) from None
        async for chunk in result.stream(min_chunk_size=CHUNK_SIZE):
            yield bytes(chunk)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete the object ``prefix`` and every object under ``prefix/``; returns the count."""
        base = validate_prefix(prefix)
        paths: list[str] = []
        async for batch in obstore.list(self.store, prefix=base + "/"):
            paths.extend(item["path"] for item in batch)
        if await self.stat(base) is not None:
            paths.append(base)
        for i in range(0, len(paths), _DELETE_BATCH):
            await obstore.delete_async(self.store, paths[i : i + _DELETE_BATCH])
        return len(paths)

    async def presigned_url(self, key: str, ttl: int) -> str:
        """A URL that lets anyone GET the object directly from S3 for ``ttl`` seconds."""
        return await obstore.sign_async(self.store, "GET", validate_key(key), timedelta(seconds=ttl))


def _quoted(etag: str | None) -> str | None:
    if not etag:
        return None
    return etag if etag.startswith(('"', "W/")) else f'"{etag}"'
