"""The new standard's view of any task row (§5.1): ``id``, ``status`` (``succeeded``),
``message``, times, ``external_id``, typed ``outputs[]`` and ``billing[]``.

A presentation of the row, not a copy: legacy-created tasks get the same view (§5.1: tasks of
legacy endpoints are returned by ``GET /tasks`` too, normalised)."""

from __future__ import annotations

from typing import Any

from ..accounting.money import billing
from ..present import UrlSigner
from ..schemas.standard2 import RecordStatus
from ..store import TaskRow


def status_of(row: TaskRow) -> RecordStatus:
    return RecordStatus.of(row.status)


def _video(item: dict[str, Any]) -> dict[str, Any]:
    out = {"type": "video", "id": item.get("id", ""), "url": item.get("url", "")}
    if item.get("watermark_url"):
        out["watermark_url"] = item["watermark_url"]
    out["duration"] = item.get("duration", "")
    return out


def _image(item: dict[str, Any]) -> dict[str, Any]:
    out = {"type": "image", "url": item.get("url", "")}
    if item.get("watermark_url"):
        out["watermark_url"] = item["watermark_url"]
    if item.get("group_id") is not None:
        out["group_id"] = item["group_id"]
    return out


def _audio(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "audio",
        "id": item.get("id", ""),
        "mp3_url": item.get("url_mp3", item.get("url", "")),
        "wav_url": item.get("url_wav", ""),
        "mp3_duration": item.get("duration_mp3", item.get("duration", "")),
        "wav_duration": item.get("duration_wav", ""),
    }


def outputs_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """``task_result`` (legacy shape, URLs resolved) → typed ``outputs[]``."""
    outputs = [_video(v) for v in result.get("videos") or []]
    outputs += [_image(i) for i in result.get("images") or []]
    outputs += [_audio(a) for a in result.get("audios") or []]
    outputs += [{"type": "voice", **v} for v in result.get("voices") or []]
    outputs += [{"type": "element", **e} for e in result.get("elements") or []]
    return outputs


def billing_of(row: TaskRow) -> list[dict[str, Any]]:
    """``billing[]`` from the ledger's charge (``final_unit_deduction``, written with the
    terminal status; accounting/money.py): a failed task was refunded and bills nothing."""
    return billing(row.final_unit_deduction, row.family)


def record(row: TaskRow, signer: UrlSigner, base_url: str) -> dict[str, Any]:
    """The record of §5.1 (query, list and callback body)."""
    status = status_of(row)
    out: dict[str, Any] = {
        "id": row.id,
        "status": status,
        "message": row.status_msg if status is RecordStatus.FAILED else "",
        "create_time": row.created_at,
        "update_time": row.updated_at,
    }
    if row.external_task_id is not None:
        out["external_id"] = row.external_task_id
    if status is RecordStatus.SUCCEEDED:
        _, result = signer.shown(row, base_url)
        out["outputs"] = outputs_of(result)
    else:
        out["outputs"] = []
    out["billing"] = billing_of(row)
    return out


def created_record(row: TaskRow) -> dict[str, Any]:
    """The ``data`` of a create reply (§3.5)."""
    out: dict[str, Any] = {
        "id": row.id,
        "status": status_of(row),
        "create_time": row.created_at,
        "update_time": row.updated_at,
    }
    if row.external_task_id is not None:
        out["external_id"] = row.external_task_id
    return out
