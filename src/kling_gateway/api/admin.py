"""The operator's admin API under ``/admin/v1``: accounts (create, list, disable, rotate keys,
limits and rate limits), resource packs (grant, list, revoke) and usage (JSON or CSV), for the
token in the ``admin_token`` setting only (:func:`kling_gateway.admin_access.is_admin`) — never an account
key. Answers use the Kling envelope; the actions are :class:`AccountingService`'s, the same the
CLI calls."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ..accounting.service import AccountingService, Limits
from ..accounting.views import reconciliation, usage_csv, usage_summary
from ..admin_access import bearer_token, is_admin
from ..errors import Code, KlingError
from . import envelope
from .deps import services_of
from .middleware import request_id_of

Units = str | int | float


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LimitsBody(_Body):
    max_concurrent_tasks: int | None = Field(default=None, ge=1, description="tasks in flight (1303 beyond)")
    daily_unit_cap: Units | None = Field(default=None, description="units per UTC day (1101 beyond)")
    monthly_unit_cap: Units | None = Field(default=None, description="units per UTC month (1101 beyond)")
    rate_limit_per_second: float | None = Field(
        default=None, gt=0, description="requests per second for the account's keys (1302 beyond)"
    )
    rate_limit_burst: int | None = Field(default=None, ge=1, description="token bucket size")
    clear: list[str] = Field(default_factory=list, description="limits to remove")

    def limits(self) -> Limits:
        return Limits(
            self.max_concurrent_tasks,
            None if self.daily_unit_cap is None else str(self.daily_unit_cap),
            None if self.monthly_unit_cap is None else str(self.monthly_unit_cap),
            tuple(self.clear),
            self.rate_limit_per_second,
            self.rate_limit_burst,
        )


class AccountCreate(LimitsBody):
    name: str = Field(default="", max_length=200)


class PackGrant(_Body):
    quantity: Units = Field(description="units in the pack")
    name: str = Field(default="", max_length=200)
    pack_type: Literal["decreasing_total", "constant_period"] = "decreasing_total"
    package_type: Literal["video", "image", "audio", "try_on"] = "video"
    effective_time: int | None = Field(default=None, ge=0, description="ms; default now")
    invalid_time: int | None = Field(default=None, ge=0, description="ms; default effective_time + days")
    days: int | None = Field(default=None, ge=1, description="validity when invalid_time is not given (30)")
    concurrency: int | None = Field(default=None, ge=1, description="slots per model version")


def require_admin(request: Request) -> AccountingService:
    """The accounting service, for the admin token only."""
    services = services_of(request)
    header = request.headers.get("authorization")
    if not services.settings.admin_token:
        raise KlingError(Code.ACCOUNT_NO_PERMISSION, "the admin API is off: no admin_token is configured")
    if bearer_token(header) is None:
        raise KlingError(Code.AUTH_HEADER_EMPTY, "the admin API needs 'Authorization: Bearer <admin token>'")
    if not is_admin(header, services.settings.admin_token):
        raise KlingError(Code.AUTH_FAILED, "not the admin token")
    return services.accounting


class AdminRoute(APIRoute):
    """Checks the admin token before FastAPI reads the body: a caller without it learns nothing
    about what a valid body looks like."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            require_admin(request)
            return await handle(request)

        return guarded


Admin = Annotated[AccountingService, Depends(require_admin)]
router = APIRouter(prefix="/admin/v1", tags=["admin"], route_class=AdminRoute)


def _ok(request: Request, data: object) -> Response:
    return envelope.success(data, request_id_of(request))


@router.post("/accounts", summary="Create an account (its keys are shown once)")
async def create_account(request: Request, body: AccountCreate, admin: Admin) -> Response:
    issued, view = await admin.create_account(body.name, body.limits())
    return _ok(request, {**view, **issued.as_dict()})


@router.get("/accounts", summary="List accounts and their limits (never a secret)")
async def list_accounts(request: Request, admin: Admin) -> Response:
    return _ok(request, await admin.list_accounts())


@router.post("/accounts/{account_id}/disable", summary="Disable an account (revoke its keys)")
async def disable_account(request: Request, account_id: str, admin: Admin) -> Response:
    return _ok(request, await admin.disable(account_id))


@router.post("/accounts/{account_id}/rotate", summary="New API key and secret (shown once); old ones refused")
async def rotate_keys(request: Request, account_id: str, admin: Admin) -> Response:
    issued, view = await admin.rotate(account_id)
    return _ok(request, {**view, **issued.as_dict()})


@router.patch("/accounts/{account_id}/limits", summary="Set or clear an account's limits")
async def set_limits(request: Request, account_id: str, body: LimitsBody, admin: Admin) -> Response:
    return _ok(request, await admin.set_limits(account_id, body.limits()))


@router.post("/accounts/{account_id}/packs", summary="Grant a resource pack")
async def grant_pack(request: Request, account_id: str, body: PackGrant, admin: Admin) -> Response:
    return _ok(request, await admin.grant_pack(account_id, **body.model_dump()))


@router.get("/accounts/{account_id}/packs", summary="An account's resource packs")
async def list_packs(request: Request, account_id: str, admin: Admin) -> Response:
    return _ok(request, await admin.packs(account_id))


@router.post("/packs/{pack_id}/revoke", summary="Revoke a resource pack (no further draws)")
async def revoke_pack(request: Request, pack_id: str, admin: Admin) -> Response:
    return _ok(request, await admin.revoke_pack(pack_id))


@router.get("/usage", summary="Ledger entries for a time range, as JSON (with totals) or CSV")
async def usage(
    request: Request,
    admin: Admin,
    start_time: Annotated[int | None, Query(ge=0)] = None,
    end_time: Annotated[int | None, Query(ge=0)] = None,
    account_id: str | None = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    rows = await admin.usage(start_time=start_time, end_time=end_time, account_id=account_id)
    if format == "csv":
        return Response(usage_csv(rows), media_type="text/csv; charset=utf-8")
    return _ok(request, {"entries": rows, "summary": usage_summary(rows)})


@router.get(
    "/channels",
    summary="Relay channels' health: circuit state, tasks in flight upstream, failovers",
    description="One item per relay channel, in priority order. `circuit` (closed, open, "
    "half-open), `consecutive_failures` and `failovers` (by reason: breaker, full, busy, down) "
    "are this process's (each replica learns on its own); `in_flight` counts the tasks the "
    "channel holds upstream now, from the store.",
)
async def channels(request: Request, admin: Admin) -> Response:
    found = [health for engine in services_of(request).engines.engines if (health := await engine.health())]
    return _ok(request, {"channels": found})


@router.get(
    "/usage/daily",
    summary="Tasks and units per day, family and model, for every account or one",
    description="`days: [{day, family, model_name, tasks, failed, units}]` as `GET /account/usage/daily`"
    " answers an account (a failed task is refunded: counted, 0 units); at most 400 days per call.",
)
async def usage_daily(
    request: Request,
    admin: Admin,
    start_time: Annotated[int, Query(ge=0)],
    end_time: Annotated[int, Query(ge=0)],
    account_id: str | None = None,
    utc_offset_minutes: Annotated[int, Query(ge=-840, le=840)] = 0,
) -> Response:
    days = await admin.daily(
        start_time=start_time, end_time=end_time, account_id=account_id, offset_ms=utc_offset_minutes * 60_000
    )
    data = {
        "start_time": start_time,
        "end_time": end_time,
        "utc_offset_minutes": utc_offset_minutes,
        "days": days,
    }
    return _ok(request, data)


@router.get("/reconciliation", summary="Per day: our units against the upstream's for relayed tasks")
async def reconcile(
    request: Request,
    admin: Admin,
    start_time: Annotated[int | None, Query(ge=0)] = None,
    end_time: Annotated[int | None, Query(ge=0)] = None,
    account_id: str | None = None,
) -> Response:
    rows = await admin.usage(start_time=start_time, end_time=end_time, account_id=account_id)
    return _ok(request, reconciliation(rows))
