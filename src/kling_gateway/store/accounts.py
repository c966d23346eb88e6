"""Account (API key) queries."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select, update

from .database import Database, Statement
from .tables import accounts


@dataclass(frozen=True)
class AccountRow:
    id: str
    name: str
    api_key_prefix: str
    access_key: str
    secret_key_enc: str
    webhook_secret_enc: str
    max_concurrent_tasks: int | None
    created_at: int
    revoked_at: int | None
    daily_unit_cap: int | None = None  # milli-units per UTC day (1101 beyond)
    monthly_unit_cap: int | None = None  # milli-units per UTC month (1101 beyond)
    rate_limit_per_second: float | None = None  # the key's own request rate (1302 beyond)
    rate_limit_burst: int | None = None  # None: the settings' rate / burst

    @property
    def active(self) -> bool:
        return self.revoked_at is None


_COLUMNS = [accounts.c[name] for name in AccountRow.__dataclass_fields__]
_BY_KEY_HASH = Statement(select(*_COLUMNS).where(accounts.c.api_key_hash == bindparam("key")))
_BY_ACCESS_KEY = Statement(select(*_COLUMNS).where(accounts.c.access_key == bindparam("key")))
_BY_ID = Statement(select(*_COLUMNS).where(accounts.c.id == bindparam("key")))


LIMITS = (
    "max_concurrent_tasks",
    "daily_unit_cap",
    "monthly_unit_cap",
    "rate_limit_per_second",
    "rate_limit_burst",
)


@dataclass(frozen=True)
class NewKeys:
    """Replacement credentials for :meth:`AccountStore.rotate` (secrets already sealed)."""

    api_key_hash: str
    api_key_prefix: str
    access_key: str
    secret_key_enc: str


class AccountStore:
    def __init__(self, db: Database):
        self.db = db

    async def insert(self, row: AccountRow, api_key_hash: str) -> None:
        values = {**row.__dict__, "api_key_hash": api_key_hash}
        async with self.db.write.begin() as conn:
            await conn.execute(accounts.insert().values(**values))

    async def by_api_key_hash(self, key_hash: str) -> AccountRow | None:
        return await self._point(_BY_KEY_HASH, {"key": key_hash})

    async def by_access_key(self, access_key: str) -> AccountRow | None:
        return await self._point(_BY_ACCESS_KEY, {"key": access_key})

    async def by_id(self, account_id: str) -> AccountRow | None:
        return await self._point(_BY_ID, {"key": account_id})

    async def _point(self, query: Statement, params: dict[str, str]) -> AccountRow | None:
        """A lookup by a unique key (inline on SQLite: authentication is on every request)."""
        row = await self.db.point(query, params)
        return AccountRow(*row) if row else None

    async def list(self) -> list[AccountRow]:
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(select(*_COLUMNS).order_by(accounts.c.created_at))).all()
        return [AccountRow(*r) for r in rows]

    async def revoke(self, account_id: str, now_ms: int) -> bool:
        async with self.db.write.begin() as conn:
            result = await conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id, accounts.c.revoked_at.is_(None))
                .values(revoked_at=now_ms)
            )
        return result.rowcount == 1

    async def set_limits(self, account_id: str, **values: float | None) -> bool:
        """Set any of :data:`LIMITS` (None clears one)."""
        allowed = set(LIMITS)
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"unknown limits: {sorted(unknown)}")
        if not values:
            return await self.by_id(account_id) is not None
        async with self.db.write.begin() as conn:
            result = await conn.execute(update(accounts).where(accounts.c.id == account_id).values(**values))
        return result.rowcount == 1

    async def rotate(self, account_id: str, keys: NewKeys) -> bool:
        """Replace an active account's API key and access/secret key pair (the old ones stop
        authenticating once the auth cache lets go of them: ``auth.CACHE_SECONDS``)."""
        async with self.db.write.begin() as conn:
            result = await conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id, accounts.c.revoked_at.is_(None))
                .values(**keys.__dict__)
            )
        return result.rowcount == 1
