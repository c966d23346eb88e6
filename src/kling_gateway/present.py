"""Stored task rows → the wire task object (spec §5.3), with storage refs turned into signed URLs."""

from __future__ import annotations

import json
from typing import Any

from .engines.base import STORAGE_SCHEME
from .storage.signing import signed_path
from .store import TaskRow


class UrlSigner:
    """Turns ``storage:<key>`` into an absolute, signed, expiring URL."""

    def __init__(self, secret: str, ttl: int):
        self.secret = secret
        self.ttl = ttl

    def url(self, value: str, base_url: str) -> str:
        if not value.startswith(STORAGE_SCHEME):
            return value
        return base_url + signed_path(value[len(STORAGE_SCHEME):], self.secret, self.ttl)

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
    result: dict[str, Any] = {}
    if row.result:
        result = json.loads(row.result)
    obj: dict[str, Any] = {
        "task_id": row.id,
        "task_status": row.status,
        "task_status_msg": row.status_msg,
        "task_info": signer.resolve(task_info(row), base_url),
        "task_result": signer.resolve(result, base_url),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    request = row.request_body
    if isinstance(request.get("watermark_info"), dict):
        obj["watermark_info"] = {"enabled": bool(request["watermark_info"].get("enabled"))}
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
