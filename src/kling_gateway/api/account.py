"""Kling's account API per key (spec-more §7.10, BASE §4.4): ``GET /account/costs`` (resource
packs with remaining quantities), ``POST /account/billing/package`` (per-task unit deductions)
and ``POST /account/billing/balance`` (per-task cash deductions: the gateway bills packs only,
so that list is always empty). Served at the host root and under ``/kling``, like Kling."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..accounting.service import MAX_DAILY_DAYS
from ..accounting.views import PRODUCT_TYPES, pack_view, package_details
from ..errors import invalid_parameter
from ..ids import now_ms
from ..schemas import Envelope
from ..store import UsageQuery
from . import envelope
from .bodies import json_body
from .deps import authenticate, services_of
from .middleware import request_id_of
from .routes import Endpoint

PREFIXES = ("", "/kling")
MAX_LIMIT = 500
_PRODUCT_OF = {v: k for k, v in PRODUCT_TYPES.items()}
_FILTER_KEYS = {
    "package": ("api_key_name", "product_type", "package_name", "package_id"),
    "balance": ("api_key_name",),
}


def _ms(name: str, raw: Any) -> int:
    """A millisecond time given as a number or a numeric string (both are accepted live)."""
    if isinstance(raw, bool):
        raise invalid_parameter(f"{name}: must be a time in milliseconds")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise invalid_parameter(f"{name}: must be a time in milliseconds") from None
    if value < 0:
        raise invalid_parameter(f"{name}: must not be negative")
    return value


async def costs(request: Request) -> Response:
    account = await authenticate(request)
    params = request.query_params
    start, end = time_window(params)
    wanted = params.get("resource_pack_name")
    now = now_ms()
    packs = [
        pack_view(p, now)
        for p in await services_of(request).ledger.packs(account.id, include_revoked=False)
        if p.effective_time <= end and p.invalid_time >= start and (not wanted or p.name == wanted)
    ]
    data = {"code": 0, "msg": "", "resource_pack_subscribe_infos": packs}
    return envelope.success(data, request_id_of(request))


MAX_OFFSET_MINUTES = 14 * 60


def time_window(params: Any) -> tuple[int, int]:
    """``start_time`` and ``end_time`` (ms, both required, start not after end) from a query."""
    for name in ("start_time", "end_time"):
        if not params.get(name):
            raise invalid_parameter(f"{name}: is required (milliseconds)")
    start, end = _ms("start_time", params["start_time"]), _ms("end_time", params["end_time"])
    if start > end:
        raise invalid_parameter("start_time: must not be after end_time")
    return start, end


def utc_offset_ms(params: Any) -> int:
    """``utc_offset_minutes`` (default 0): where the caller's days begin, east of UTC positive."""
    raw = params.get("utc_offset_minutes", "0")
    try:
        minutes = int(str(raw).strip())
    except ValueError:
        raise invalid_parameter("utc_offset_minutes: must be an integer") from None
    if abs(minutes) > MAX_OFFSET_MINUTES:
        raise invalid_parameter(
            f"utc_offset_minutes: must be between -{MAX_OFFSET_MINUTES} and {MAX_OFFSET_MINUTES}"
        )
    return minutes * 60_000


async def usage_daily(request: Request) -> Response:
    """A gateway extension: the key's tasks and units per day, family and model (the console's
    usage charts), one grouped query over the ledger instead of paging every deduction."""
    account = await authenticate(request)
    params = request.query_params
    start, end = time_window(params)
    offset = utc_offset_ms(params)
    days = await services_of(request).accounting.daily(
        start_time=start, end_time=end, account_id=account.id, offset_ms=offset
    )
    data = {"start_time": start, "end_time": end, "utc_offset_minutes": offset // 60_000, "days": days}
    return envelope.success(data, request_id_of(request))


def _cursor(raw: Any) -> tuple[int, str, int, int]:
    """(created_at, task_id, start_time, end_time) from ``next_cursor``."""
    try:
        at, task_id, start, end = json.loads(base64.urlsafe_b64decode(str(raw).encode()))
        return int(at), str(task_id), int(start), int(end)
    except (ValueError, TypeError, binascii.Error):
        raise invalid_parameter("cursor: not a cursor this API returned") from None


def _filters(kind: str, raw: Any) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise invalid_parameter("filters: must be a list of {key, values}")
    out: dict[str, list[str]] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("values"), list):
            raise invalid_parameter(f"filters[{i}]: must be {{key, values[]}}")
        key = item.get("key")
        if key not in _FILTER_KEYS[kind]:
            raise invalid_parameter(f"filters[{i}].key: must be one of {', '.join(_FILTER_KEYS[kind])}")
        out.setdefault(str(key), []).extend(str(v) for v in item["values"])
    if "package_name" in out and "package_id" in out:
        raise invalid_parameter("filters: package_name and package_id cannot be used together")
    return out


async def _billing(request: Request, kind: str) -> Response:
    account = await authenticate(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise invalid_parameter("request body must be a JSON object")
    limit = body.get("limit", MAX_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise invalid_parameter(f"limit: must be an integer between 1 and {MAX_LIMIT}")
    filters = _filters(kind, body.get("filters"))
    after: tuple[int, str] | None = None
    if body.get("cursor"):  # the cursor overrides everything else but limit
        at, task_id, start, end = _cursor(body["cursor"])
        after = (at, task_id)
    else:
        for name in ("start_time", "end_time"):
            if body.get(name) in (None, ""):
                raise invalid_parameter(f"{name}: is required unless cursor is given")
        start, end = _ms("start_time", body["start_time"]), _ms("end_time", body["end_time"])
        if start > end:
            raise invalid_parameter("start_time: must not be after end_time")
    empty = {"result": {"detail": [], "count": 0}, "next_cursor": "", "has_more": False}
    names = filters.get("api_key_name")
    if kind == "balance" or (names is not None and account.name not in names):
        return envelope.success(empty, request_id_of(request))
    ledger = services_of(request).ledger
    pack_ids = filters.get("package_id", [])
    if "package_name" in filters:
        pack_ids = [p.id for p in await ledger.packs(account.id) if p.name in filters["package_name"]]
        if not pack_ids:
            return envelope.success(empty, request_id_of(request))
    package_types = [_PRODUCT_OF.get(v, v) for v in filters.get("product_type", [])]
    entries = await ledger.entries(
        UsageQuery(
            start_time=start,
            end_time=end,
            account_id=account.id,
            statuses=("charged", "settled"),  # a refunded task deducted nothing
            package_types=package_types,
            pack_ids=pack_ids,
            after=after,
            limit=limit + 1,
        )
    )
    page, more = entries[:limit], len(entries) > limit
    detail = [
        d for e in page for d in package_details(e, account) if not pack_ids or d["package_id"] in pack_ids
    ]
    next_cursor = ""
    if more:
        last = page[-1]
        token = json.dumps([last.created_at, last.task_id, start, end]).encode()
        next_cursor = base64.urlsafe_b64encode(token).decode()
    data = {"result": {"detail": detail, "count": len(detail)}, "next_cursor": next_cursor, "has_more": more}
    return envelope.success(data, request_id_of(request))


async def billing_package(request: Request) -> Response:
    return await _billing(request, "package")


async def billing_balance(request: Request) -> Response:
    return await _billing(request, "balance")


_TIME_PARAMS = [
    {"name": name, "in": "query", "required": True, "schema": {"type": "integer"}, "description": "ms"}
    for name in ("start_time", "end_time")
]


def endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            "GET",
            "/account/costs",
            costs,
            name="account_costs",
            summary="Resource packs with remaining quantities",
            tag="account",
            ok=Envelope,
            parameters=[
                *_TIME_PARAMS,
                {
                    "name": "resource_pack_name",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                },
            ],
        ),
        Endpoint(
            "GET",
            "/account/usage/daily",
            usage_daily,
            name="account_usage_daily",
            summary="Tasks and units per day, family and model (gateway extension)",
            description="The key's ledger grouped by day (in the caller's time zone), family and "
            "model: `days: [{day, family, model_name, tasks, failed, units}]`. A failed task is "
            "refunded: it counts in `tasks` and `failed` and costs 0 units. At most "
            f"{MAX_DAILY_DAYS} days per call.",
            tag="account",
            ok=Envelope,
            parameters=[
                *_TIME_PARAMS,
                {
                    "name": "utc_offset_minutes",
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "integer",
                        "minimum": -MAX_OFFSET_MINUTES,
                        "maximum": MAX_OFFSET_MINUTES,
                    },
                    "description": "where days begin: minutes east of UTC (default 0)",
                },
            ],
        ),
        Endpoint(
            "POST",
            "/account/billing/package",
            billing_package,
            name="account_billing_package",
            summary="Per-task resource-pack deductions (cursor paging, filters)",
            tag="account",
            ok=Envelope,
        ),
        Endpoint(
            "POST",
            "/account/billing/balance",
            billing_balance,
            name="account_billing_balance",
            summary="Per-task cash deductions (the gateway bills packs only: always empty)",
            tag="account",
            ok=Envelope,
        ),
    ]
