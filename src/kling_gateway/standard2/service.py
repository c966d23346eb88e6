"""The new standard's calls as the routes see them: create on a model path, batch query, cursor
listing. Rows are stored through the one :class:`~kling_gateway.service.TaskService`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..catalog import Catalog, Served
from ..errors import invalid_parameter, not_found
from ..ids import now_ms
from ..schemas import FAMILIES
from ..schemas.standard2 import RecordStatus
from ..service import TaskService, check_inline_input
from ..store import AccountRow, TaskRow
from ..store.lookup import Cursor, TaskLookup
from .products import PRODUCTS, Product, product_type_of
from .rules import validate

T = TypeVar("T")

MAX_IDS = 20
LIMIT_RANGE = (1, 500)
DEFAULT_LIMIT = 100
DEFAULT_SPAN_MS = 30 * 24 * 3600 * 1000
STATUS_FILTER = {s.value: s.task_status for s in RecordStatus}
PRODUCT_TYPES = ("video", "image", "try_on")
IMAGE_CONTENTS = ("first_frame", "last_frame", "refer_image", "image")


@dataclass(frozen=True)
class Page:
    rows: list[TaskRow]
    next_cursor: str
    has_more: bool


def encode_cursor(row: TaskRow) -> str:
    return base64.urlsafe_b64encode(f"{row.created_at}:{row.id}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        created, _, task_id = raw.partition(":")
        return Cursor(int(created), task_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_parameter("cursor: not a next_cursor this gateway gave out") from None


def _ms(name: str, value: Any, default: int) -> int:
    """A time in ms: a JSON number or a numeric string (both accepted live, §5.2)."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise invalid_parameter(f"{name} must be a time in milliseconds")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_parameter(f"{name} must be a time in milliseconds") from None


def all_families() -> list[str]:
    return [*FAMILIES, *(p.family for p in PRODUCTS.values())]


class Standard2Service:
    def __init__(self, tasks: TaskService, lookup: TaskLookup, catalog: Catalog):
        self.tasks = tasks
        self.lookup = lookup
        self.catalog = catalog

    def served(self, product: Product, model_id: str) -> Served:
        served = self.catalog.offer(product.family, model_id)
        if served is None:
            known = ", ".join(s.wire_id for s in self.catalog.for_family(product.family, "new"))
            raise not_found(f"model '{model_id}' is not served on {product.name} (served: {known})")
        return served

    async def create(self, account: AccountRow, product: Product, model_id: str, body: Any) -> TaskRow:
        served = self.served(product, model_id)
        request = validate(product, served, body)
        for i, item in enumerate(request.get("contents") or []):
            if item["type"] in IMAGE_CONTENTS:
                check_inline_input(
                    item["url"], field=f"contents[{i}].url", kind="image", settings=self.tasks.settings
                )
        options = request["options"]
        return await self.tasks.accept(
            account,
            product.family,
            request,
            model=served.model.name,
            external_task_id=options.get("external_task_id") or None,
            callback_url=options.get("callback_url") or None,
        )

    async def query(
        self,
        account: AccountRow,
        task_ids: str | None,
        external_ids: str | None,
        known: Callable[[str], T | None] = lambda _task_id: None,
    ) -> list[TaskRow | T]:
        """``GET /tasks`` (§5.1): one kind of id, ≤ 20, unknown ids left out. By task id, what
        ``known`` has for a task (a finished task's kept record) is used instead of its row."""
        if task_ids is not None and external_ids is not None:
            raise invalid_parameter("task_ids and external_task_ids cannot be used together")
        raw = task_ids if task_ids is not None else external_ids
        if raw is None or not raw.strip():
            raise invalid_parameter("task_ids or external_task_ids is required")
        ids = [part.strip() for part in raw.split(",") if part.strip()]
        if len(ids) > MAX_IDS:
            name = "task_ids" if task_ids is not None else "external_task_ids"
            raise invalid_parameter(f"{name} cannot exceed {MAX_IDS} in total (got {len(ids)})")
        if task_ids is not None:
            return await self.lookup.by_ids(account.id, ids, known)
        return list(await self.lookup.by_external_ids(account.id, ids))

    async def listing(self, account: AccountRow, body: Any) -> Page:
        """``POST /tasks`` (§5.2): newest first, keyset-paged."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise invalid_parameter("request body must be a JSON object")
        end = _ms("end_time", body.get("end_time"), now_ms())
        start = _ms("start_time", body.get("start_time"), end - DEFAULT_SPAN_MS)
        if start > end:
            raise invalid_parameter("start_time must not be after end_time")
        limit = body.get("limit", DEFAULT_LIMIT)
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not LIMIT_RANGE[0] <= limit <= LIMIT_RANGE[1]
        ):
            raise invalid_parameter(f"limit must be an integer between {LIMIT_RANGE[0]} and {LIMIT_RANGE[1]}")
        statuses, families = self._filters(body.get("filters"))
        cursor = body.get("cursor")
        after = decode_cursor(cursor) if isinstance(cursor, str) and cursor else None
        rows = await self.lookup.listing(
            account.id,
            start_time=start,
            end_time=end,
            after=after,
            limit=limit + 1,
            statuses=statuses,
            families=families,
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]) if rows else (cursor or "")
        return Page(rows, next_cursor, has_more)

    @staticmethod
    def _filters(raw: Any) -> tuple[list[str], list[str] | None]:
        if raw is None:
            return [], None
        if not isinstance(raw, list):
            raise invalid_parameter("filters must be an array of {key, values}")
        statuses: list[str] = []
        types: list[str] | None = None
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or not isinstance(item.get("values"), list):
                raise invalid_parameter(f"filters[{i}] must be {{key, values[]}}")
            key, values = item.get("key"), item["values"]
            if key == "status":
                bad = [v for v in values if v not in STATUS_FILTER]
                if bad:
                    raise invalid_parameter(
                        f"filters[{i}]: status '{bad[0]}' is not one of {', '.join(STATUS_FILTER)}"
                    )
                statuses += [STATUS_FILTER[v] for v in values]
            elif key == "product_type":
                bad = [v for v in values if v not in PRODUCT_TYPES]
                if bad:
                    raise invalid_parameter(
                        f"filters[{i}]: product_type '{bad[0]}' is not one of {', '.join(PRODUCT_TYPES)}"
                    )
                types = [*(types or []), *values]
            else:
                raise invalid_parameter(f"filters[{i}].key must be status or product_type")
        families = None if types is None else _families_of(types, all_families())
        return statuses, families


def _families_of(types: Iterable[str], families: Iterable[str]) -> list[str]:
    wanted = set(types)
    return [f for f in families if product_type_of(f) in wanted]
