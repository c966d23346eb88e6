"""Relaying new-standard tasks (``v2/*``) to a channel that speaks the new standard
(``new_standard = true``): paths, bodies, and the record ↔ task-object translation.

The relay core works on legacy-shaped task objects (``task_id``, ``task_status``,
``task_result``); an upstream record (§5.1) is translated on the way in, so tracking, mirroring
and failover are the same code for both standards.
"""

from __future__ import annotations

import copy
from typing import Any

from ...schemas.standard2 import RecordStatus
from ...standard2.products import product_of


def _legacy_status(status: Any) -> str:
    """An upstream record's status in the legacy spelling (unknown words pass through)."""
    try:
        return RecordStatus(str(status)).task_status
    except ValueError:
        return str(status)


def create_path(family: str, model: str) -> str:
    product = product_of(family)
    assert product is not None, family
    return f"{product.name}/{model}"


def prefix_of(legacy_prefix: str) -> str:
    """New-standard paths hang off the host root: ``/v1`` → ``""``, ``/kling/v1`` → ``/kling``."""
    return legacy_prefix[: -len("/v1")] if legacy_prefix.endswith("/v1") else legacy_prefix


def outbound_body(
    request: dict[str, Any], external_id: str, callback: str | None
) -> tuple[str, dict[str, Any]]:
    """(model, body) for the upstream: the model goes to the path, the gateway's ids in options."""
    body = copy.deepcopy(request)
    model = str(body.pop("model"))
    body.pop("external_task_id", None)  # set at the top level by the relay's outbound step
    body.pop("callback_url", None)
    options = dict(body.get("options") or {})
    options.pop("callback_url", None)
    options["external_task_id"] = external_id
    if callback is not None:
        options["callback_url"] = callback
    body["options"] = options
    return model, body


def _video(item: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": str(item.get("id") or ""),
        "url": item.get("url"),
        "duration": str(item.get("duration") or ""),
    }
    if item.get("watermark_url"):
        out["watermark_url"] = item["watermark_url"]
    return out


def _image(item: dict[str, Any], index: int) -> dict[str, Any]:
    out = {"index": index, "url": item.get("url")}
    if item.get("watermark_url"):
        out["watermark_url"] = item["watermark_url"]
    return out


def is_record(body: dict[str, Any]) -> bool:
    return "status" in body and "id" in body and "task_status" not in body


def task_object(record: dict[str, Any]) -> dict[str, Any]:
    """An upstream record → the task object the relay core reads."""
    outputs = [o for o in record.get("outputs") or [] if isinstance(o, dict)]
    result: dict[str, Any] = {}
    videos = [_video(o) for o in outputs if o.get("type") == "video"]
    images = [_image(o, i) for i, o in enumerate(o for o in outputs if o.get("type") == "image")]
    if videos:
        result["videos"] = videos
    if images:
        result["images"] = images
    obj: dict[str, Any] = {
        "task_id": str(record.get("id") or ""),
        "task_status": _legacy_status(record.get("status")),
        "task_status_msg": str(record.get("message") or ""),
        "task_info": {"external_task_id": record["external_id"]} if record.get("external_id") else {},
        "task_result": result,
        "created_at": record.get("create_time"),
        "updated_at": record.get("update_time"),
    }
    units = [b for b in record.get("billing") or [] if isinstance(b, dict) and b.get("charge_type") == "unit"]
    if units:
        obj["final_unit_deduction"] = str(units[0].get("amount"))
    return obj
