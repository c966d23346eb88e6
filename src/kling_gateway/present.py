"""Stored task rows → the wire task object (spec §5.3), with storage refs turned into signed URLs."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from .engines.base import STORAGE_SCHEME
from .storage.base import Presigner
from .storage.signing import expiry, signed_path
from .store import TaskRow

S3_MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 refuses longer
PRESIGNED_KEPT = 10_000
SHOWN_KEPT = 10_000


class UrlSigner:
    """Turns ``storage:<key>`` into an absolute, signed, expiring URL.

    By default a gateway URL (``/files/<key>?expires&signature``, served from any storage). With
    ``presign`` (S3 storage and ``storage_presign``), clients get the store's own presigned URL
    instead. Presigning is async, so callers first :meth:`prepare` the rows they will show, then
    build the objects synchronously; a key not prepared falls back to the gateway URL, which is
    always valid. A presigned URL is made for ``1.25 × ttl`` and reused for ``ttl / 4``, so every
    URL handed out still lives at least ``ttl`` (capped by S3's 7 days) and polling clients see a
    stable URL for a while, like the bucketed expiry of gateway URLs.
    """

    def __init__(self, secret: str, ttl: int, presign: object | None = None):
        self.secret = secret
        self.ttl = ttl
        self.presigner = presign if isinstance(presign, Presigner) else None
        self._presigned: OrderedDict[str, tuple[str, float]] = OrderedDict()
        # (task id, updated_at, base URL) -> (URL expiry it was built for, task_info, task_result)
        self._shown: OrderedDict[tuple[str, int, str], tuple[int, Any, Any]] = OrderedDict()

    def url(self, value: str, base_url: str) -> str:
        if not value.startswith(STORAGE_SCHEME):
            return value
        key = value[len(STORAGE_SCHEME) :]
        cached = self._presigned.get(key) if self.presigner is not None else None
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return base_url + signed_path(key, self.secret, self.ttl)

    async def prepare(self, nodes: Iterable[Any]) -> None:
        """Presign every ``storage:`` reference in ``nodes`` not already presigned (no-op without presign)."""
        if self.presigner is None:
            return
        now = time.monotonic()
        keys = {ref[len(STORAGE_SCHEME) :] for node in nodes for ref in _storage_refs(node)}
        ttl = min(self.ttl + max(1, self.ttl // 4), S3_MAX_PRESIGN_SECONDS)
        reuse = max(1, min(self.ttl // 4, ttl - self.ttl))
        for key in keys:
            cached = self._presigned.get(key)
            if cached is not None and cached[1] > now:
                continue
            self._presigned[key] = (await self.presigner.presigned_url(key, ttl), now + reuse)
            self._presigned.move_to_end(key)
        while len(self._presigned) > PRESIGNED_KEPT:
            self._presigned.popitem(last=False)

    async def prepare_rows(self, rows: Iterable[TaskRow]) -> None:
        """:meth:`prepare` the results and task infos of ``rows`` (before :func:`task_object`)."""
        if self.presigner is None:
            return
        await self.prepare(json.loads(text) for row in rows for text in (row.result, row.info_extra) if text)

    def shown(self, row: TaskRow, base_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """``task_info`` and ``task_result`` of a row with their URLs resolved.

        Polling asks for the same rows over and over; signed URLs are deterministic within one
        expiry bucket, so the resolved parts are reused until the bucket (or the row) changes.
        Presigned URLs are not cached here (they come from :meth:`prepare`)."""
        bucket = expiry(self.ttl)
        key = (row.id, row.updated_at, base_url)
        cached = self._shown.get(key) if self.presigner is None else None
        if cached is not None and cached[0] == bucket:
            return cached[1], cached[2]
        info = self.resolve(task_info(row), base_url)
        result = self.resolve(json.loads(row.result), base_url) if row.result else {}
        if self.presigner is None:
            self._shown[key] = (bucket, info, result)
            if len(self._shown) > SHOWN_KEPT:
                self._shown.popitem(last=False)
        return info, result

    def resolve(self, node: Any, base_url: str) -> Any:
        if isinstance(node, str):
            return self.url(node, base_url) if node.startswith(STORAGE_SCHEME) else node
        if isinstance(node, list):
            return [self.resolve(item, base_url) for item in node]
        if isinstance(node, dict):
            return {key: self.resolve(value, base_url) for key, value in node.items()}
        return node


def task_info(row: TaskRow) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if row.external_task_id is not None:
        info["external_task_id"] = row.external_task_id
    if row.info_extra:
        info.update(json.loads(row.info_extra))
    return info


def task_object(row: TaskRow, signer: UrlSigner, base_url: str) -> dict[str, Any]:
    """The task as queries, lists, callbacks and events show it."""
    info, result = signer.shown(row, base_url)
    obj: dict[str, Any] = {
        "task_id": row.id,
        "task_status": row.status,
        "task_status_msg": row.status_msg,
        "task_info": info,
        "task_result": result,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if '"watermark_info"' in row.request:  # skip parsing the request on the hot path otherwise
        watermark = row.request_body.get("watermark_info")
        if isinstance(watermark, dict):
            obj["watermark_info"] = {"enabled": bool(watermark.get("enabled"))}
    if row.final_unit_deduction is not None:
        obj["final_unit_deduction"] = row.final_unit_deduction
    return obj


def created_object(row: TaskRow) -> dict[str, Any]:
    """The ``data`` of a create reply (spec §5.2)."""
    info = {"external_task_id": row.external_task_id} if row.external_task_id is not None else {}
    return {
        "task_id": row.id,
        "task_status": row.status,
        "task_info": info,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _storage_refs(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        if node.startswith(STORAGE_SCHEME):
            yield node
    elif isinstance(node, list):
        for item in node:
            yield from _storage_refs(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _storage_refs(value)
