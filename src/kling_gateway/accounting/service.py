"""The operator's accounting actions, shared by the admin API and the ``kling-gateway`` CLI:
accounts and their limits, resource packs, usage. Inputs are checked here once, with Kling's
1201/1203 errors, so both front ends refuse the same things in the same words."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import Code, KlingError, invalid_parameter
from ..ids import now_ms
from ..keys import IssuedKey, create_account, public_view, rotate_keys
from ..secrets_box import SecretBox
from ..store import AccountRow, AccountStore, LedgerStore, PackRow, UsageQuery
from ..store.accounts import LIMITS
from ..store.ledger import PACK_TYPES, PACKAGE_TYPES
from .units import format_units, to_milli
from .views import admin_pack_view, daily_view, usage_row

DAY_MS = 86_400_000
MAX_EXPORT = 100_000  # entries per usage read; page with start_time for more
MAX_DAILY_DAYS = 400  # the widest window of one per-day read


@dataclass(frozen=True)
class Limits:
    """Per-account limits; ``None`` leaves a limit as it is, ``clear`` names the ones to remove.
    A rate limit (requests per second, burst) overrides the settings' for this account's keys."""

    max_concurrent_tasks: int | None = None
    daily_units: str | None = None
    monthly_units: str | None = None
    clear: tuple[str, ...] = ()
    rate_limit_per_second: float | None = None
    rate_limit_burst: int | None = None

    def values(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        if self.max_concurrent_tasks is not None:
            if self.max_concurrent_tasks < 1:
                raise invalid_parameter("max_concurrent_tasks: must be at least 1")
            out["max_concurrent_tasks"] = self.max_concurrent_tasks
        for name, value in (("daily_unit_cap", self.daily_units), ("monthly_unit_cap", self.monthly_units)):
            if value is not None:
                out[name] = _units(name, value)
        if self.rate_limit_per_second is not None:
            rate = float(self.rate_limit_per_second)
            if not math.isfinite(rate) or rate <= 0:
                raise invalid_parameter("rate_limit_per_second: must be a number greater than 0")
            out["rate_limit_per_second"] = rate
        if self.rate_limit_burst is not None:
            if self.rate_limit_burst < 1:
                raise invalid_parameter("rate_limit_burst: must be at least 1")
            out["rate_limit_burst"] = self.rate_limit_burst
        for name in self.clear:
            if name not in LIMITS:
                raise invalid_parameter(f"clear: unknown limit '{name}' ({', '.join(LIMITS)})")
            out[name] = None
        return out


def _units(field: str, value: Any) -> int:
    try:
        milli = to_milli(value)
    except ValueError:
        raise invalid_parameter(f"{field}: must be a number of units") from None
    if milli <= 0:
        raise invalid_parameter(f"{field}: must be greater than 0")
    return milli


def account_view(row: AccountRow) -> dict[str, Any]:
    """An account for the operator: never a secret, with its limits."""
    return {
        **public_view(row),
        "max_concurrent_tasks": row.max_concurrent_tasks,
        "daily_unit_cap": format_units(row.daily_unit_cap) if row.daily_unit_cap is not None else None,
        "monthly_unit_cap": format_units(row.monthly_unit_cap) if row.monthly_unit_cap is not None else None,
        "rate_limit_per_second": row.rate_limit_per_second,
        "rate_limit_burst": row.rate_limit_burst,
    }


class AccountingService:
    def __init__(self, accounts: AccountStore, ledger: LedgerStore, box: SecretBox):
        self.accounts = accounts
        self.ledger = ledger
        self.box = box

    async def _account(self, account_id: str) -> AccountRow:
        row = await self.accounts.by_id(account_id)
        if row is None:
            raise KlingError(Code.RESOURCE_NOT_FOUND, f"account '{account_id}' not found")
        return row

    # ---- accounts ------------------------------------------------------------------------

    async def create_account(self, name: str, limits: Limits) -> tuple[IssuedKey, dict[str, Any]]:
        values = limits.values()  # refuse bad limits before creating anything
        issued = await create_account(self.accounts, self.box, name)
        await self.accounts.set_limits(issued.account_id, **values)
        return issued, account_view(await self._account(issued.account_id))

    async def list_accounts(self) -> list[dict[str, Any]]:
        return [account_view(row) for row in await self.accounts.list()]

    async def disable(self, account_id: str) -> dict[str, Any]:
        """Revoke the account's keys (creates and reads stop within the auth cache's seconds)."""
        await self._account(account_id)
        await self.accounts.revoke(account_id, now_ms())
        return account_view(await self._account(account_id))

    async def rotate(self, account_id: str) -> tuple[IssuedKey, dict[str, Any]]:
        """New API key and access/secret key pair (shown once); the old ones are refused within
        the auth cache's bound (``auth.CACHE_SECONDS``) in every process."""
        row = await self._account(account_id)
        issued = await rotate_keys(self.accounts, self.box, row) if row.active else None
        if issued is None:
            raise invalid_parameter(f"account '{account_id}' is disabled: its keys cannot be rotated")
        return issued, account_view(await self._account(account_id))

    async def set_limits(self, account_id: str, limits: Limits) -> dict[str, Any]:
        await self._account(account_id)
        await self.accounts.set_limits(account_id, **limits.values())
        return account_view(await self._account(account_id))

    # ---- packs ---------------------------------------------------------------------------

    async def grant_pack(
        self,
        account_id: str,
        *,
        quantity: Any,
        name: str = "",
        pack_type: str = "decreasing_total",
        package_type: str = "video",
        effective_time: int | None = None,
        invalid_time: int | None = None,
        days: int | None = None,
        concurrency: int | None = None,
    ) -> dict[str, Any]:
        await self._account(account_id)
        if pack_type not in PACK_TYPES:
            raise invalid_parameter(f"pack_type: must be one of {', '.join(PACK_TYPES)}")
        if package_type not in PACKAGE_TYPES:
            raise invalid_parameter(f"package_type: must be one of {', '.join(PACKAGE_TYPES)}")
        if concurrency is not None and concurrency < 1:
            raise invalid_parameter("concurrency: must be at least 1")
        now = now_ms()
        start = now if effective_time is None else int(effective_time)
        if invalid_time is None:
            if days is not None and days < 1:
                raise invalid_parameter("days: must be at least 1")
            end = start + (days or 30) * DAY_MS
        else:
            end = int(invalid_time)
        if end <= start:
            raise invalid_parameter("invalid_time: must be after effective_time")
        pack = await self.ledger.grant(
            account_id,
            name=name or f"{package_type} pack",
            pack_type=pack_type,
            package_type=package_type,
            total_milli=_units("quantity", quantity),
            effective_time=start,
            invalid_time=end,
            now=now,
            concurrency=concurrency,
        )
        return admin_pack_view(pack, now)

    async def packs(self, account_id: str) -> list[dict[str, Any]]:
        await self._account(account_id)
        now = now_ms()
        return [admin_pack_view(p, now) for p in await self.ledger.packs(account_id)]

    async def revoke_pack(self, pack_id: str) -> dict[str, Any]:
        now = now_ms()
        if not await self.ledger.revoke_pack(pack_id, now):
            found: PackRow | None = await self.ledger.pack(pack_id)
            if found is None:
                raise KlingError(Code.RESOURCE_NOT_FOUND, f"resource pack '{pack_id}' not found")
        pack = await self.ledger.pack(pack_id)
        assert pack is not None
        return admin_pack_view(pack, now)

    # ---- usage ---------------------------------------------------------------------------

    async def usage(
        self, *, start_time: int | None = None, end_time: int | None = None, account_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Ledger entries charged in [start_time, end_time] (default: the last 30 days)."""
        end = now_ms() if end_time is None else int(end_time)
        start = end - 30 * DAY_MS if start_time is None else int(start_time)
        if start > end:
            raise invalid_parameter("start_time: must not be after end_time")
        if account_id is not None:
            await self._account(account_id)
        names = {row.id: row.name for row in await self.accounts.list()}
        entries = await self.ledger.entries(
            UsageQuery(start_time=start, end_time=end, account_id=account_id, limit=MAX_EXPORT)
        )
        return [usage_row(e, names.get(e.account_id, "")) for e in entries]

    async def daily(
        self, *, start_time: int, end_time: int, account_id: str | None = None, offset_ms: int = 0
    ) -> list[dict[str, Any]]:
        """Tasks and units per day, family and model (all accounts, or one): the operator's charts."""
        if start_time > end_time:
            raise invalid_parameter("start_time: must not be after end_time")
        if end_time - start_time > MAX_DAILY_DAYS * DAY_MS:
            raise invalid_parameter(f"end_time: the window is at most {MAX_DAILY_DAYS} days")
        if account_id is not None:
            await self._account(account_id)
        rows = await self.ledger.daily(start_time, end_time, account_id=account_id, offset_ms=offset_ms)
        return daily_view(rows)
