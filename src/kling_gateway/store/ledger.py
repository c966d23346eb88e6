"""Resource packs and the usage ledger, and the admission rule that ties them to task creation.

Admission runs inside the transaction that inserts the tasks (see ``TaskStore.batch_admission``):
the account row is locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
already serialises every writer of the file, across processes), then the concurrency count, the
spend caps and the pack balance are read once for the batch of creates and the rules run on that
state task by task, each seeing the charges of the ones before it, so two creates can never both
take the last slot or the last units. The entry is closed in the transaction that gives the task
its terminal status (``TaskStore.terminal_hooks``): settled on success, refunded to the packs it
drew on when the task failed — exactly once, because that status change is a compare-and-set.
A task whose length follows an input was charged an estimate; it is settled at the price of its
real output (:class:`Settlement`), the pack draw moved to match without ever overdrawing. A task
withdrawn before it finished (:func:`withdraw`) gives its draw back and leaves no entry.
"""

from __future__ import annotations

import calendar
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from ..accounting import metrics as usage_metrics
from ..accounting.pricing import Price, price_of
from ..accounting.units import format_units
from ..errors import Code, GatewayError, KlingError
from ..schemas.tasks import ACTIVE_STATUSES, TaskStatus
from .database import Database, Statement, WriteTransaction, insert_of
from .tables import accounts, ledger, resource_packs, tasks

PACK_TYPES = ("decreasing_total", "constant_period")
PACKAGE_TYPES = ("video", "image", "audio", "try_on")
DAY_MS = 86_400_000


@dataclass(frozen=True)
class PackRow:
    id: str
    account_id: str
    name: str
    pack_type: str
    package_type: str
    total_milli: int
    remaining_milli: int
    concurrency: int | None
    effective_time: int
    invalid_time: int
    purchase_time: int
    revoked_at: int | None

    def status(self, now: int) -> str:
        """Kling's pack status: toBeOnline, online, expired or runOut."""
        if self.revoked_at is not None or now >= self.invalid_time:
            return "expired"
        if now < self.effective_time:
            return "toBeOnline"
        return "online" if self.remaining_milli > 0 else "runOut"


@dataclass(frozen=True)
class LedgerRow:
    task_id: str
    account_id: str
    family: str
    model: str
    resolution: str
    seconds: float | None
    items: int
    slots: int
    package_type: str
    units_milli: int
    draws: str
    status: str
    upstream_units: str | None
    created_at: int
    settled_at: int | None
    shortfall_milli: int = 0  # re-priced above the charge and the packs could not cover it

    @property
    def draw_list(self) -> list[tuple[str, int, int]]:
        """(pack id, milli-units drawn, pack remaining before the draw) per pack drawn on."""
        return [(str(p), int(m), int(b)) for p, m, b in json.loads(self.draws)]


_PACK_COLUMNS = [resource_packs.c[name] for name in PackRow.__dataclass_fields__]
_LEDGER_COLUMNS = [ledger.c[name] for name in LedgerRow.__dataclass_fields__]


def day_start(now: int) -> int:
    return now - now % DAY_MS


def month_start(now: int) -> int:
    moment = datetime.fromtimestamp(now / 1000, UTC)
    return calendar.timegm((moment.year, moment.month, 1, 0, 0, 0)) * 1000


async def _lock_account(conn: AsyncConnection, account_id: str) -> Any:
    query = select(
        accounts.c.max_concurrent_tasks, accounts.c.daily_unit_cap, accounts.c.monthly_unit_cap
    ).where(accounts.c.id == account_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def _packs(conn: AsyncConnection, account_id: str) -> list[PackRow]:
    query = select(*_PACK_COLUMNS).where(resource_packs.c.account_id == account_id)
    return [PackRow(*r) for r in (await conn.execute(query)).all()]


_LIMIT_COLUMNS = (accounts.c.max_concurrent_tasks, accounts.c.daily_unit_cap, accounts.c.monthly_unit_cap)
_ACCOUNT: BindParameter[str] = bindparam("account_id")
_ACTIVE = or_(*(tasks.c.status == status for status in ACTIVE_STATUSES))


def _with_packs(*, locked: bool) -> Statement:
    """The account's limits and its packs in one statement (one row per pack, or one row with
    the pack columns NULL); ``locked``: the account row ``FOR UPDATE`` (PostgreSQL)."""
    query = (
        select(*_LIMIT_COLUMNS, *_PACK_COLUMNS)
        .select_from(accounts.outerjoin(resource_packs, resource_packs.c.account_id == accounts.c.id))
        .where(accounts.c.id == _ACCOUNT)
    )
    return Statement(query.with_for_update(of=accounts) if locked else query)


# Admission's reads, built once (a create batch runs them per account)
_WITH_PACKS = {False: _with_packs(locked=False), True: _with_packs(locked=True)}
_ACTIVE_COUNT = Statement(
    select(func.count()).select_from(tasks).where(tasks.c.account_id == _ACCOUNT, _ACTIVE)
)
_SPENT_SINCE = Statement(
    select(func.coalesce(func.sum(ledger.c.units_milli), 0)).where(
        ledger.c.account_id == _ACCOUNT,
        ledger.c.status != "refunded",
        ledger.c.created_at >= bindparam("since"),
    )
)
_SLOTS_IN_USE = Statement(  # concurrency slots held by running tasks of one model and pack type
    select(func.coalesce(func.sum(ledger.c.slots), 0))
    .select_from(ledger.join(tasks, tasks.c.id == ledger.c.task_id))
    .where(
        ledger.c.account_id == _ACCOUNT,
        ledger.c.model == bindparam("model"),
        ledger.c.package_type == bindparam("package_type"),
        _ACTIVE,
    )
)
_INSERT_ENTRY = Statement(insert_of(ledger))  # what admission writes (``LedgerBatch.accept``)
_DRAW_PACK = Statement(
    update(resource_packs)
    .where(resource_packs.c.id == bindparam("pack_id"), resource_packs.c.remaining_milli >= bindparam("take"))
    .values(remaining_milli=resource_packs.c.remaining_milli - bindparam("take"))
)


async def _scalar(tx: WriteTransaction, query: Statement, **params: Any) -> int:
    return int((await tx.rows(query, params))[0][0])


async def _lock_with_packs(tx: WriteTransaction, account_id: str) -> tuple[Any, list[PackRow]] | None:
    """Lock the account row and read its limits and packs in one statement (None: no account)."""
    found = await tx.rows(_WITH_PACKS[tx.postgres], {"account_id": account_id})
    if not found:
        return None
    width = len(_LIMIT_COLUMNS)
    packs = [PackRow(*r[width:]) for r in found if r[width] is not None]
    return _Limits(*found[0][:width]), packs


class _Limits(NamedTuple):
    max_concurrent_tasks: int | None
    daily_unit_cap: int | None
    monthly_unit_cap: int | None


def _online(packs: Sequence[PackRow], package_type: str, now: int) -> list[PackRow]:
    return [p for p in packs if p.package_type == package_type and p.status(now) in ("online", "runOut")]


@dataclass
class _Account:
    """One account's admission state inside a batch: what the store holds, plus the batch's
    admitted tasks so far (each task sees the ones before it)."""

    limits: _Limits
    packs: list[PackRow]
    remaining: dict[str, int]  # pack id -> milli-units left after the batch's draws so far
    active: int = 0  # tasks in flight (counted only when max_concurrent_tasks is set)
    spent: dict[int, int] = field(default_factory=dict)  # period start -> units spent since
    slots: dict[tuple[str, str], int] = field(default_factory=dict)  # (model, pack type) -> in use
    charges: list[tuple[int, int]] = field(default_factory=list)  # (created_at, milli) admitted


class LedgerBatch:
    """The ledger's admission of one insert batch: :meth:`check` a task (raises the refusal),
    :meth:`accept` it (its draw counts for the tasks after it), :meth:`write` the entries and
    the pack draws (a few statements for the whole batch, not several per task)."""

    def __init__(self, prices: dict[str, Price], refused: dict[str, KlingError], states: dict[str, _Account]):
        self.prices = prices
        self.refused = refused
        self.states = states
        self._pending: dict[str, list[list[Any]]] = {}
        self._entries: list[dict[str, Any]] = []

    def check(self, row: Any) -> None:
        """Raise the :class:`KlingError` that refuses ``row`` (1303 concurrency, 1101 spend cap,
        1102 packs); otherwise remember its draw for :meth:`accept`. Writes nothing."""
        if row.id in self.refused:
            raise self.refused[row.id]
        state = self.states.get(row.account_id)
        if state is None:
            raise KlingError(Code.ACCOUNT_EXCEPTION, f"account {row.account_id} does not exist")
        price, now = self.prices[row.id], int(row.created_at)
        cap = state.limits.max_concurrent_tasks
        if cap and state.active >= cap:
            raise KlingError(
                Code.CONCURRENCY_LIMIT, f"parallel task over resource pack limit ({cap} tasks in flight)"
            )
        for limit, since, period in (
            (state.limits.daily_unit_cap, day_start(now), "daily"),
            (state.limits.monthly_unit_cap, month_start(now), "monthly"),
        ):
            if limit is None:
                continue
            spent = state.spent[since] + sum(m for at, m in state.charges if at >= since)
            if spent + price.milli > limit:
                raise KlingError(
                    Code.ACCOUNT_ARREARS,
                    f"{period} spend cap reached: {format_units(spent)} of {format_units(limit)} units "
                    f"used, this task needs {format_units(price.milli)}",
                )
        self._pending[row.id] = _plan_draw(state, price, now)

    def accept(self, row: Any) -> None:
        """Count ``row`` (checked) as admitted: its slots, spend and draw."""
        state, price = self.states[row.account_id], self.prices[row.id]
        draws = self._pending.pop(row.id)
        state.active += 1
        state.charges.append((int(row.created_at), price.milli))
        key = (price.model, price.package_type)
        if key in state.slots:
            state.slots[key] += price.slots
        for pack_id, take, _before in draws:
            state.remaining[pack_id] -= take
        self._entries.append(
            {
                "task_id": row.id,
                "account_id": row.account_id,
                "family": row.family,
                "model": price.model,
                "resolution": price.resolution,
                "seconds": price.seconds,
                "items": price.items,
                "slots": price.slots,
                "package_type": price.package_type,
                "units_milli": price.milli,
                "draws": json.dumps(draws) if draws else "[]",  # no packs: not metered
                "status": "charged",
                "upstream_units": None,
                "created_at": int(row.created_at),
                "settled_at": None,
            }
        )

    async def write(self, tx: WriteTransaction) -> None:
        """The admitted tasks' ledger entries and the packs' new balances, after the task rows."""
        if not self._entries:
            return
        await tx.execute(_INSERT_ENTRY, self._entries)
        for state in self.states.values():
            for pack in state.packs:
                take = pack.remaining_milli - state.remaining[pack.id]
                if take == 0:
                    continue
                await tx.execute(  # the guard cannot fail under the account lock; never overdraw
                    _DRAW_PACK,
                    [{"pack_id": pack.id, "take": take}],
                    unless_changed=AdmissionConflict(f"resource pack {pack.id} changed during admission"),
                )

    def committed(self, rows: Sequence[Any]) -> None:
        """Count the tasks in the usage metrics at the price they were charged (once the charge
        is on disk; a held, synchronous task is counted by its caller with its outcome)."""
        for row in rows:
            usage_metrics.admitted(row.account_id, row.family, self.prices[row.id])


class AdmissionConflict(GatewayError):
    """A pack's balance moved under the account lock (a bug): the whole batch is rolled back."""


def _plan_draw(state: _Account, price: Price, now: int) -> list[list[Any]]:
    """Check pack concurrency and balance; the draw (oldest-expiring pack first) as
    [pack id, milli, remaining before]. An account never granted a pack is not metered."""
    if not state.packs:
        return []
    online = _online(state.packs, price.package_type, now)
    capacity = max((p.concurrency for p in online if p.concurrency), default=None)
    if capacity is not None:
        used = state.slots[(price.model, price.package_type)]
        if used + price.slots > capacity:
            raise KlingError(
                Code.CONCURRENCY_LIMIT,
                f"parallel task over resource pack limit: {used} of {capacity} {price.package_type} "
                f"slots for {price.model} in use",
            )
    usable = sorted(
        (p for p in online if state.remaining[p.id] > 0),
        key=lambda p: (p.invalid_time, p.effective_time, p.id),
    )
    left = sum(state.remaining[p.id] for p in usable)
    if left < price.milli:
        raise KlingError(
            Code.ACCOUNT_PACK_EXHAUSTED,
            f"resource pack exhausted or expired: this task needs {format_units(price.milli)} "
            f"{price.package_type} units, {format_units(left)} left",
        )
    draws: list[list[Any]] = []
    need = price.milli
    for pack in usable:
        if need == 0:
            break
        take = min(need, state.remaining[pack.id])
        draws.append([pack.id, take, state.remaining[pack.id]])
        need -= take
    return draws


PriceOf = Callable[[str, dict[str, Any]], Price]


class Admission:
    """The ledger's batch admission hook (``TaskStore.batch_admission``), pricing tasks with
    ``price_of``: limits, spend caps, packs and the charge of every task of an insert batch,
    inside its transaction.

    :meth:`prepare` locks each account of the batch (``SELECT … FOR UPDATE`` on PostgreSQL, in
    account order; SQLite's ``BEGIN IMMEDIATE`` already serialises every writer of the file) and
    reads what the rules need once per account; the rules themselves then run in Python on that
    state, task by task, so a batch of creates costs a few statements rather than several each."""

    def __init__(self, price_of: PriceOf = price_of):
        self.price_of = price_of

    async def prepare(self, tx: WriteTransaction, rows: Sequence[Any]) -> LedgerBatch:
        prices: dict[str, Price] = {}
        refused: dict[str, KlingError] = {}
        for row in rows:
            try:
                prices[row.id] = self.price_of(row.family, row.request_body)
            except KlingError as exc:
                refused[row.id] = exc
        states: dict[str, _Account] = {}
        for account_id in sorted({row.account_id for row in rows}):
            found = await _lock_with_packs(tx, account_id)
            if found is None:
                continue
            limits, packs = found
            state = _Account(limits, packs, {p.id: p.remaining_milli for p in packs})
            mine = [r for r in rows if r.account_id == account_id and r.id in prices]
            if limits.max_concurrent_tasks:
                state.active = await _scalar(tx, _ACTIVE_COUNT, account_id=account_id)
            for limit, start in ((limits.daily_unit_cap, day_start), (limits.monthly_unit_cap, month_start)):
                if limit is None:
                    continue
                for since in {start(int(r.created_at)) for r in mine}:
                    if since not in state.spent:
                        state.spent[since] = await _scalar(
                            tx, _SPENT_SINCE, account_id=account_id, since=since
                        )
            if any(p.concurrency for p in packs):
                for model, package_type in {(prices[r.id].model, prices[r.id].package_type) for r in mine}:
                    state.slots[(model, package_type)] = await _scalar(
                        tx, _SLOTS_IN_USE, account_id=account_id, model=model, package_type=package_type
                    )
            states[account_id] = state
        return LedgerBatch(prices, refused, states)


# (family, request body, output seconds) -> the price for the output's real length, or None
# when the task's length did not follow an input (it was charged what it asked for).
Reprice = Callable[[str, dict[str, Any], float], Price | None]


def output_seconds(result: dict[str, Any] | None) -> float | None:
    """The longest video of a ``task_result`` (legacy shape), or None when it has none."""
    lengths = []
    for video in (result or {}).get("videos") or []:
        try:
            lengths.append(float(str(video.get("duration"))))
        except ValueError:
            continue
    return max(lengths) if lengths else None


class Settlement:
    """The terminal hook (``TaskStore.terminal_hooks``): :func:`close` with re-pricing."""

    def __init__(self, reprice: Reprice | None = None, estimated_families: frozenset[str] = frozenset()):
        self.reprice = reprice
        self.estimated_families = estimated_families  # where the length may follow an input

    async def __call__(
        self,
        conn: AsyncConnection,
        task_id: str,
        to_status: str,
        now: int,
        upstream_units: str | None,
        result: dict[str, Any] | None,
    ) -> str | None:
        return await close(conn, task_id, to_status, now, upstream_units, result, self)

    async def final_price(
        self, conn: AsyncConnection, entry: LedgerRow, result: dict[str, Any] | None
    ) -> int:
        """Milli-units the finished task costs: its charge, or the re-priced one where its length
        followed an input (motion control, base-video edits, lip-sync, avatar)."""
        seconds = output_seconds(result)
        if self.reprice is None or seconds is None or entry.family not in self.estimated_families:
            return entry.units_milli
        request = (await conn.execute(select(tasks.c.request).where(tasks.c.id == entry.task_id))).scalar()
        final = self.reprice(entry.family, json.loads(request or "{}"), seconds)
        return entry.units_milli if final is None else final.milli


async def _adjust(
    conn: AsyncConnection, entry: LedgerRow, final_milli: int, now: int
) -> tuple[int, list[Any], int]:
    """Move the entry's pack draw from its charge to ``final_milli``: give back the difference
    (last draw first) or draw the rest (oldest-expiring online pack first). Never overdraws: when
    the packs cannot cover the rest, the charge stays what was held and the rest is the
    shortfall. Returns (units charged, draws, shortfall)."""
    draws: list[list[Any]] = [list(d) for d in entry.draw_list]
    if not draws:  # not metered: nothing was drawn, nothing to move
        return final_milli, draws, 0
    await _lock_account(conn, entry.account_id)  # same lock order as admission: account, then packs
    if final_milli < entry.units_milli:
        back = entry.units_milli - final_milli
        for draw in reversed(draws):
            give = min(back, draw[1])
            if give:
                await conn.execute(
                    update(resource_packs)
                    .where(resource_packs.c.id == draw[0])
                    .values(remaining_milli=resource_packs.c.remaining_milli + give)
                )
            draw[1] -= give
            back -= give
        return final_milli, [d for d in draws if d[1] > 0], 0
    extra = final_milli - entry.units_milli
    usable = sorted(
        (
            p
            for p in await _packs(conn, entry.account_id)
            if p.package_type == entry.package_type and p.status(now) == "online"
        ),
        key=lambda p: (p.invalid_time, p.effective_time, p.id),
    )
    if sum(p.remaining_milli for p in usable) < extra:
        return entry.units_milli, draws, extra
    for pack in usable:
        if extra == 0:
            break
        take = min(extra, pack.remaining_milli)
        await conn.execute(
            update(resource_packs)
            .where(resource_packs.c.id == pack.id)
            .values(remaining_milli=resource_packs.c.remaining_milli - take)
        )
        draws.append([pack.id, take, pack.remaining_milli])
        extra -= take
    return final_milli, draws, 0


async def close(
    conn: AsyncConnection,
    task_id: str,
    to_status: str,
    now: int,
    upstream_units: str | None,
    result: dict[str, Any] | None = None,
    settlement: Settlement | None = None,
) -> str | None:
    """Close a task's entry with its terminal status, in that transaction.

    Returns the task's ``final_unit_deduction`` (ours; a relay's own figure is kept beside it in
    ``upstream_units``), or None when the task has no open entry (already closed, or older than
    the ledger)."""
    found = await _open_entry(conn, task_id)
    if found is None:
        return None
    if to_status == TaskStatus.SUCCEED:
        values: dict[str, Any] = {"status": "settled", "settled_at": now, "upstream_units": upstream_units}
        milli = found.units_milli
        final = milli if settlement is None else await settlement.final_price(conn, found, result)
        if final != found.units_milli:
            milli, draws, shortfall = await _adjust(conn, found, final, now)
            seconds = output_seconds(result)
            values.update(units_milli=milli, draws=json.dumps(draws), shortfall_milli=shortfall)
            if seconds is not None:
                values["seconds"] = seconds
            if milli != found.units_milli:
                usage_metrics.repriced(found.account_id, found.family, found.model, milli - found.units_milli)
        await conn.execute(
            update(ledger).where(ledger.c.task_id == task_id, ledger.c.status == "charged").values(**values)
        )
        return format_units(milli)
    await _give_back(conn, found)
    await conn.execute(
        update(ledger)
        .where(ledger.c.task_id == task_id, ledger.c.status == "charged")
        .values(status="refunded", settled_at=now, upstream_units=upstream_units)
    )
    usage_metrics.refunded(found.account_id, found.family, found.model, found.units_milli)
    return "0"


async def _open_entry(conn: AsyncConnection, task_id: str) -> LedgerRow | None:
    found = (
        await conn.execute(
            select(*_LEDGER_COLUMNS).where(ledger.c.task_id == task_id, ledger.c.status == "charged")
        )
    ).first()
    return LedgerRow(*found) if found else None


async def _give_back(conn: AsyncConnection, entry: LedgerRow) -> None:
    """Return every draw of an open entry to its pack (a refund, or a withdrawn task)."""
    await _lock_account(conn, entry.account_id)  # same lock order as admission: account, then packs
    for pack_id, milli, _before in sorted(entry.draw_list):
        await conn.execute(
            update(resource_packs)
            .where(resource_packs.c.id == pack_id)
            .values(remaining_milli=resource_packs.c.remaining_milli + milli)
        )


async def withdraw(conn: AsyncConnection, task_id: str) -> None:
    """The withdraw hook (``TaskStore.withdraw_hooks``): a task that is taken back as if never
    created (a synchronous call refused for its input) leaves no entry; its draws go back to
    the packs, so balances, caps and usage read as before the call."""
    entry = await _open_entry(conn, task_id)
    if entry is None:
        return
    await _give_back(conn, entry)
    await conn.execute(delete(ledger).where(ledger.c.task_id == task_id, ledger.c.status == "charged"))


@dataclass(frozen=True)
class UsageQuery:
    """Which ledger entries to read: time range (ms, by charge time), account, filters, page."""

    start_time: int
    end_time: int
    account_id: str | None = None
    statuses: Sequence[str] = ("charged", "settled", "refunded")
    package_types: Sequence[str] = ()
    pack_ids: Sequence[str] = ()
    after: tuple[int, str] | None = None  # (created_at, task_id) of the previous page's last entry
    limit: int = 500


@dataclass(frozen=True)
class DailyUsage:
    """One day's ledger totals for one family and model: ``day`` counts days since the epoch in
    the caller's time zone; a refunded (failed) task counts in ``tasks`` and ``failed`` and
    costs nothing."""

    day: int
    family: str
    model: str
    tasks: int
    failed: int
    units_milli: int


class LedgerStore:
    """Packs and ledger reads and writes outside task admission (operator and account API)."""

    def __init__(self, db: Database):
        self.db = db

    async def grant(
        self,
        account_id: str,
        *,
        name: str,
        pack_type: str,
        package_type: str,
        total_milli: int,
        effective_time: int,
        invalid_time: int,
        now: int,
        concurrency: int | None = None,
    ) -> PackRow:
        row = PackRow(
            id="pack_" + secrets.token_hex(8),
            account_id=account_id,
            name=name,
            pack_type=pack_type,
            package_type=package_type,
            total_milli=total_milli,
            remaining_milli=total_milli,
            concurrency=concurrency,
            effective_time=effective_time,
            invalid_time=invalid_time,
            purchase_time=now,
            revoked_at=None,
        )
        async with self.db.write.begin() as conn:
            await conn.execute(insert(resource_packs).values(**row.__dict__))
        return row

    async def revoke_pack(self, pack_id: str, now: int) -> bool:
        async with self.db.write.begin() as conn:
            result = await conn.execute(
                update(resource_packs)
                .where(resource_packs.c.id == pack_id, resource_packs.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return result.rowcount == 1

    async def pack(self, pack_id: str) -> PackRow | None:
        async with self.db.read.connect() as conn:
            found = (await conn.execute(select(*_PACK_COLUMNS).where(resource_packs.c.id == pack_id))).first()
        return PackRow(*found) if found else None

    async def packs(self, account_id: str, *, include_revoked: bool = True) -> list[PackRow]:
        conditions: list[ColumnElement[bool]] = [resource_packs.c.account_id == account_id]
        if not include_revoked:
            conditions.append(resource_packs.c.revoked_at.is_(None))
        query = (
            select(*_PACK_COLUMNS)
            .where(*conditions)
            .order_by(resource_packs.c.invalid_time, resource_packs.c.effective_time, resource_packs.c.id)
        )
        async with self.db.read.connect() as conn:
            return [PackRow(*r) for r in (await conn.execute(query)).all()]

    async def entry(self, task_id: str) -> LedgerRow | None:
        async with self.db.read.connect() as conn:
            found = (await conn.execute(select(*_LEDGER_COLUMNS).where(ledger.c.task_id == task_id))).first()
        return LedgerRow(*found) if found else None

    async def daily(
        self, start_time: int, end_time: int, *, account_id: str | None = None, offset_ms: int = 0
    ) -> list[DailyUsage]:
        """Totals per day (shifted by ``offset_ms`` from UTC), family and model of the entries
        charged in ``[start_time, end_time]``, ordered by those three: one grouped query, so the
        answer costs the same for ten tasks or a million."""
        refunded = ledger.c.status == "refunded"
        day = ((ledger.c.created_at + offset_ms) // DAY_MS).label("day")
        conditions: list[ColumnElement[bool]] = [
            ledger.c.created_at >= start_time,
            ledger.c.created_at <= end_time,
        ]
        if account_id is not None:
            conditions.append(ledger.c.account_id == account_id)
        query = (
            select(
                day,
                ledger.c.family,
                ledger.c.model,
                func.count(),
                func.sum(case((refunded, 1), else_=0)),
                func.sum(case((refunded, 0), else_=ledger.c.units_milli)),
            )
            .where(*conditions)
            .group_by(day, ledger.c.family, ledger.c.model)
            .order_by(day, ledger.c.family, ledger.c.model)
        )
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [DailyUsage(int(d), f, m, int(n), int(x or 0), int(u or 0)) for d, f, m, n, x, u in rows]

    async def entries(self, q: UsageQuery) -> list[LedgerRow]:
        """Entries in (created_at, task_id) order, at most ``q.limit`` of them."""
        conditions: list[ColumnElement[bool]] = [
            ledger.c.created_at >= q.start_time,
            ledger.c.created_at <= q.end_time,
            ledger.c.status.in_(list(q.statuses)),
        ]
        if q.account_id is not None:
            conditions.append(ledger.c.account_id == q.account_id)
        if q.package_types:
            conditions.append(ledger.c.package_type.in_(list(q.package_types)))
        if q.after is not None:
            at, task_id = q.after
            conditions.append(
                (ledger.c.created_at > at) | and_(ledger.c.created_at == at, ledger.c.task_id > task_id)
            )
        if q.pack_ids:  # draws is JSON text; the pack ids are quoted inside it
            conditions.append(or_(*[ledger.c.draws.contains(json.dumps(p)) for p in q.pack_ids]))
        query = (
            select(*_LEDGER_COLUMNS)
            .where(*conditions)
            .order_by(ledger.c.created_at, ledger.c.task_id)
            .limit(q.limit)
        )
        async with self.db.read.connect() as conn:
            return [LedgerRow(*r) for r in (await conn.execute(query)).all()]
