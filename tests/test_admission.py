"""Atomic admission (#13 item 1) and the ledger/pack rules (#16), on SQLite and PostgreSQL.

Creates run truly in parallel: many coroutines in one process (they share a group-commit
transaction) and several processes against the same database (they race for the lock)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kling_gateway.accounting.units import to_milli
from kling_gateway.config import Settings
from kling_gateway.errors import KlingError
from kling_gateway.gateway import Gateway
from kling_gateway.ids import now_ms
from kling_gateway.keys import create_account
from kling_gateway.store.tables import ledger, tasks

T2V = "videos/text2video"
# kling-v2-5-turbo, std (720p), 5 s: 0.3 units/s -> 1.5 units (spec-more §9)
TURBO_5S = {"prompt": "a fox", "model_name": "kling-v2-5-turbo", "duration": "5"}
TURBO_5S_MILLI = 1500
DAY = 86_400_000


@pytest.fixture()
async def gw(backend: str | None, tmp_path: Path) -> AsyncIterator[Gateway]:
    from kling_gateway.engines.reference import ReferenceEngine

    settings = Settings(data_dir=tmp_path / "data", database_url=backend, workers=0)
    gateway = Gateway(settings, run_workers=False)
    await gateway.db.migrate()
    gateway.router.add(ReferenceEngine(settings))
    yield gateway
    await gateway.db.dispose()


async def new_account(gw: Gateway, *, max_concurrent: int | None = None) -> Any:
    issued = await create_account(gw.accounts, gw.box, "t", max_concurrent_tasks=max_concurrent)
    account = await gw.accounts.by_id(issued.account_id)
    assert account is not None
    return account


async def grant(gw: Gateway, account_id: str, units: str, **kwargs: Any) -> Any:
    now = now_ms()
    values: dict[str, Any] = {
        "name": "pack",
        "pack_type": "decreasing_total",
        "package_type": "video",
        "total_milli": to_milli(units),
        "effective_time": now - 1000,
        "invalid_time": now + 30 * DAY,
        "now": now,
    }
    values.update(kwargs)
    return await gw.ledger.grant(account_id, **values)


async def count(gw: Gateway, table: Any, account_id: str) -> int:
    from sqlalchemy import func, select

    async with gw.db.read.connect() as conn:
        query = select(func.count()).select_from(table).where(table.c.account_id == account_id)
        return int((await conn.execute(query)).scalar_one())


async def remaining(gw: Gateway, pack_id: str) -> int:
    pack = await gw.ledger.pack(pack_id)
    assert pack is not None
    return pack.remaining_milli


async def create_many(gw: Gateway, account: Any, n: int, body: dict[str, Any]) -> list[Any]:
    return await asyncio.gather(
        *(gw.service.create(account, T2V, dict(body)) for _ in range(n)), return_exceptions=True
    )


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def codes(results: list[Any]) -> list[int]:
    return sorted(r.code for r in results if isinstance(r, KlingError))


# ---- concurrency cap --------------------------------------------------------------------


async def test_parallel_creates_in_one_process_never_exceed_the_cap(gw: Gateway) -> None:
    account = await new_account(gw, max_concurrent=3)
    results = await create_many(gw, account, 40, {"prompt": "p"})
    accepted = [r for r in results if not isinstance(r, BaseException)]
    assert len(accepted) == 3
    assert codes(results) == [1303] * 37
    assert await count(gw, tasks, account.id) == 3
    assert await count(gw, ledger, account.id) == 3  # refused creates stored nothing


async def test_a_finished_task_frees_its_slot(gw: Gateway) -> None:
    account = await new_account(gw, max_concurrent=1)
    first = await gw.service.create(account, T2V, {"prompt": "p"})
    with pytest.raises(KlingError) as refused:
        await gw.service.create(account, T2V, {"prompt": "p"})
    assert refused.value.code == 1303 and refused.value.http_status == 429
    assert "parallel task over resource pack limit" in refused.value.message
    now = now_ms()
    assert await gw.tasks.transition(first.id, from_statuses=("submitted",), to_status="failed", now=now)
    second = await gw.service.create(account, T2V, {"prompt": "p"})
    assert second.id != first.id


CHILD = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    from kling_gateway.ids import new_numeric_id, now_ms
    from kling_gateway.store import Database, TaskRow, TaskStore
    from kling_gateway.store import ledger as rules
    from kling_gateway.accounting.pricing import Pricing
    from kling_gateway.catalog import build_catalog

    url, account_id, go, n, body = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]

    def row():
        now = now_ms()
        return TaskRow(new_numeric_id(), account_id, "videos/text2video", None, "submitted", "", body,
                       None, None, None, None, "reference", None, 0, None, None, now, now, now, None, None)

    async def main():
        db = Database(url)
        store = TaskStore(db)
        store.batch_admission.append(rules.Admission(Pricing(build_catalog([])).price_of))
        async with db.write.connect():  # connection opened before the start signal
            pass
        open(go + ".ready." + str(os.getpid()), "w").close()
        while not os.path.exists(go):
            time.sleep(0.005)
        results = await asyncio.gather(*(store.insert(row()) for _ in range(n)), return_exceptions=True)
        await db.dispose()
        print(json.dumps([getattr(r, "code", None) if r is not None else 0 for r in results]))

    asyncio.run(main())
    """
)


def run_children(
    url: str, account_id: str, go: Path, processes: int, each: int, body: dict[str, Any]
) -> list[int]:
    """Start the processes, let them connect, signal them all at once; every create's outcome
    (0 accepted, else the Kling code)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, url, account_id, str(go), str(each), json.dumps(body)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=os.environ.copy(),
        )
        for _ in range(processes)
    ]
    deadline = time.monotonic() + 60
    while len(list(go.parent.glob(go.name + ".ready.*"))) < processes:  # all connected
        assert time.monotonic() < deadline, "the creating processes did not start"
        assert all(p.poll() is None for p in procs), "a creating process died"
        time.sleep(0.01)
    go.write_text("go")
    outcomes: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        outcomes.extend(json.loads(out.decode().strip().splitlines()[-1]))
    return outcomes


async def test_parallel_creates_across_processes_never_exceed_the_cap(gw: Gateway, tmp_path: Path) -> None:
    account = await new_account(gw, max_concurrent=4)
    outcomes = await asyncio.to_thread(
        run_children, gw.db.url, account.id, tmp_path / "go", 4, 12, {"prompt": "p"}
    )
    assert sorted(outcomes) == [0] * 4 + [1303] * 44
    assert await count(gw, tasks, account.id) == 4
    assert await count(gw, ledger, account.id) == 4


async def test_parallel_creates_across_processes_never_overdraw_a_pack(gw: Gateway, tmp_path: Path) -> None:
    account = await new_account(gw)
    pack = await grant(gw, account.id, "7.5")  # exactly five 1.5-unit tasks
    outcomes = await asyncio.to_thread(run_children, gw.db.url, account.id, tmp_path / "go", 4, 10, TURBO_5S)
    assert sorted(outcomes) == [0] * 5 + [1102] * 35
    assert await remaining(gw, pack.id) == 0
    assert await count(gw, tasks, account.id) == 5


# ---- packs and the ledger ---------------------------------------------------------------


async def test_parallel_creates_draw_a_pack_down_to_exactly_zero(gw: Gateway) -> None:
    account = await new_account(gw)
    pack = await grant(gw, account.id, "10")
    results = await create_many(gw, account, 30, TURBO_5S)
    assert len([r for r in results if not isinstance(r, BaseException)]) == 6  # 6 x 1.5 = 9
    assert codes(results) == [1102] * 24
    assert await remaining(gw, pack.id) == 1000
    assert sample("kling_usage_refused_total", account=account.id, code="1102") == 24
    labels = {"account": account.id, "family": T2V, "model": "kling-v2-5-turbo"}
    assert sample("kling_usage_tasks_total", **labels) == 6
    assert sample("kling_usage_units_total", **labels) == 9.0
    assert sample("kling_usage_seconds_total", **labels) == 30.0
    refused = next(r for r in results if isinstance(r, KlingError))
    assert refused.http_status == 429 and "needs 1.5 video units, 1 left" in refused.message


async def test_failed_task_is_refunded_and_succeeded_task_shows_our_charge(gw: Gateway) -> None:
    account = await new_account(gw)
    pack = await grant(gw, account.id, "5")
    failed = await gw.service.create(account, T2V, TURBO_5S)
    done = await gw.service.create(account, T2V, TURBO_5S)
    assert await remaining(gw, pack.id) == 5000 - 2 * TURBO_5S_MILLI
    now = now_ms()
    assert await gw.tasks.transition(failed.id, from_statuses=("submitted",), to_status="failed", now=now)
    # the second transition of the same task loses the compare-and-set: no double refund
    assert not await gw.tasks.transition(failed.id, from_statuses=("submitted",), to_status="failed", now=now)
    assert await remaining(gw, pack.id) == 5000 - TURBO_5S_MILLI
    assert await gw.tasks.transition(
        done.id,
        from_statuses=("submitted",),
        to_status="succeed",
        now=now,
        result={"videos": []},
        final_unit_deduction="7",  # what an upstream reported
    )
    assert await remaining(gw, pack.id) == 5000 - TURBO_5S_MILLI
    failed_row, done_row = await gw.tasks.get(failed.id), await gw.tasks.get(done.id)
    assert failed_row is not None and failed_row.final_unit_deduction == "0"
    assert done_row is not None and done_row.final_unit_deduction == "1.5"
    entry = await gw.ledger.entry(done.id)
    assert entry is not None and entry.status == "settled" and entry.upstream_units == "7"
    assert entry.draw_list == [(pack.id, TURBO_5S_MILLI, 5000 - TURBO_5S_MILLI)]
    refunded = await gw.ledger.entry(failed.id)
    assert refunded is not None and refunded.status == "refunded"
    labels = {"account": account.id, "family": T2V, "model": "kling-v2-5-turbo"}
    assert sample("kling_usage_failed_total", **labels) == 1
    assert sample("kling_usage_refunded_units_total", **labels) == 1.5
    # the day's reconciliation flags the relayed task whose upstream figure differs from ours
    from kling_gateway.accounting.views import reconciliation

    (day,) = reconciliation(await gw.accounting.usage(account_id=account.id))
    assert (day["tasks"], day["units"], day["upstream_units"], day["difference"]) == (1, "1.5", "7", "5.5")
    assert day["flagged"] and day["mismatched"] == [
        {"task_id": done.id, "units": "1.5", "upstream_units": "7"}
    ]
    rows = await gw.accounting.usage(account_id=account.id)
    assert {r["task_id"]: r["units"] for r in rows} == {failed.id: "0", done.id: "1.5"}


async def test_a_task_rerun_after_a_lost_worker_is_charged_once(gw: Gateway) -> None:
    account = await new_account(gw)
    pack = await grant(gw, account.id, "5")
    row = await gw.service.create(account, T2V, TURBO_5S)
    now = now_ms()
    assert await gw.tasks.claim_one(row.id, "worker-1", now, 1) is not None
    # worker-1 dies: its lease expires, the reconciler frees the task, worker-2 runs it again
    assert await gw.tasks.clear_expired_lease(row.id, now + 10)
    again = await gw.tasks.claim_one(row.id, "worker-2", now + 10, 60_000)
    assert again is not None and again.attempts == 2
    active = ("submitted", "processing")
    done = await gw.tasks.transition(
        row.id, from_statuses=active, to_status="succeed", now=now + 20, owner="worker-2", result={}
    )
    late = await gw.tasks.transition(
        row.id, from_statuses=active, to_status="failed", now=now + 30, owner="worker-1"
    )
    assert done and not late  # the lost worker's late answer changes nothing
    assert await count(gw, ledger, account.id) == 1
    entry = await gw.ledger.entry(row.id)
    assert entry is not None and entry.status == "settled"
    assert await remaining(gw, pack.id) == 5000 - TURBO_5S_MILLI


async def test_oldest_expiring_pack_is_drawn_first_and_a_charge_can_span_packs(gw: Gateway) -> None:
    account = await new_account(gw)
    now = now_ms()
    late = await grant(gw, account.id, "10", invalid_time=now + 20 * DAY)
    soon = await grant(gw, account.id, "2", invalid_time=now + 2 * DAY)
    first = await gw.service.create(account, T2V, TURBO_5S)
    second = await gw.service.create(account, T2V, TURBO_5S)
    assert await remaining(gw, soon.id) == 0 and await remaining(gw, late.id) == 10000 - 1000
    entry_1, entry_2 = await gw.ledger.entry(first.id), await gw.ledger.entry(second.id)
    assert entry_1 is not None and entry_1.draw_list == [(soon.id, 1500, 2000)]
    assert entry_2 is not None and entry_2.draw_list == [(soon.id, 500, 500), (late.id, 1000, 10000)]


async def test_packs_not_yet_online_expired_or_of_another_type_do_not_cover(gw: Gateway) -> None:
    account = await new_account(gw)
    now = now_ms()
    await grant(gw, account.id, "100", effective_time=now + DAY, invalid_time=now + 2 * DAY)
    await grant(gw, account.id, "100", effective_time=now - 2 * DAY, invalid_time=now - DAY)
    await grant(gw, account.id, "100", package_type="image")
    revoked = await grant(gw, account.id, "100")
    assert await gw.ledger.revoke_pack(revoked.id, now)
    with pytest.raises(KlingError) as refused:
        await gw.service.create(account, T2V, TURBO_5S)
    assert refused.value.code == 1102 and "0 left" in refused.value.message
    assert await count(gw, tasks, account.id) == 0 and await count(gw, ledger, account.id) == 0
    image = await gw.service.create(account, "images/generations", {"prompt": "p", "n": 2})
    entry = await gw.ledger.entry(image.id)
    assert entry is not None and entry.units_milli == 16000 and entry.package_type == "image"


async def test_account_without_packs_is_not_metered_but_still_in_the_ledger(gw: Gateway) -> None:
    account = await new_account(gw)
    row = await gw.service.create(account, T2V, {**TURBO_5S, "mode": "pro", "duration": "10"})
    entry = await gw.ledger.entry(row.id)
    assert entry is not None and entry.units_milli == 5000 and entry.draw_list == []
    assert (entry.model, entry.resolution, entry.seconds) == ("kling-v2-5-turbo", "1080p", 10.0)


async def test_daily_spend_cap_refuses_with_1101(gw: Gateway) -> None:
    account = await new_account(gw)
    assert await gw.accounts.set_limits(account.id, daily_unit_cap=to_milli("3"))
    await gw.service.create(account, T2V, TURBO_5S)
    await gw.service.create(account, T2V, TURBO_5S)
    with pytest.raises(KlingError) as refused:
        await gw.service.create(account, T2V, TURBO_5S)
    assert refused.value.code == 1101 and "daily spend cap reached: 3 of 3 units" in refused.value.message
    assert await count(gw, tasks, account.id) == 2


async def test_pack_concurrency_counts_per_model_version(gw: Gateway) -> None:
    account = await new_account(gw)
    await grant(gw, account.id, "100", concurrency=2)
    await gw.service.create(account, T2V, TURBO_5S)
    await gw.service.create(account, T2V, TURBO_5S)
    with pytest.raises(KlingError) as refused:
        await gw.service.create(account, T2V, TURBO_5S)
    assert refused.value.code == 1303 and "2 of 2 video slots for kling-v2-5-turbo" in refused.value.message
    other_model = await gw.service.create(account, T2V, {**TURBO_5S, "model_name": "kling-v2-6"})
    assert other_model.status == "submitted"


@pytest.mark.parametrize(
    ("family", "body", "units", "model", "package"),
    [
        (
            "videos/text2video",
            {"model_name": "kling-v3", "mode": "pro", "sound": "on", "duration": "10"},
            12000,
            "kling-v3",
            "video",
        ),
        (
            "videos/text2video",
            {"model_name": "kling-v3", "mode": "std", "duration": "5"},
            3000,
            "kling-v3",
            "video",
        ),
        (
            "videos/image2video",
            {"model_name": "kling-v2-6", "mode": "pro", "duration": "10"},
            5000,
            "kling-v2-6",
            "video",
        ),
        ("images/generations", {"model_name": "kling-v2-1", "n": 3}, 12000, "kling-v2-1", "image"),
        (
            "images/generations",
            {"model_name": "kling-v2-1", "image": "https://x/y.png"},
            8000,
            "kling-v2-1",
            "image",
        ),
        ("images/generations", {"model_name": "kling-v3", "n": 2}, 16000, "kling-v3", "image"),
        ("images/generations", {"prompt": "p"}, 8000, "kling-v3", "image"),  # the default: Image 3.0
        ("images/generations", {"model_name": "kling-v2-1"}, 4000, "kling-v2-1", "image"),
        (
            "videos/text2video",
            {"model_name": "kling-v3", "mode": "4k", "duration": "3"},
            9000,
            "kling-v3",
            "video",
        ),  # 4k: 3 units/s
        ("videos/image2video", {"model_name": "kling-v3", "duration": "15"}, 9000, "kling-v3", "video"),
        ("audio/text-to-audio", {"duration": 3}, 250, "kling-audio", "audio"),
        (
            "videos/text2video",
            {"model_name": "kling-v1", "duration": "10"},
            3000,
            "kling-v1",
            "video",
        ),  # no list price: fallback 0.3/s
    ],
)
def test_prices_come_from_the_catalogue(
    family: str, body: dict[str, Any], units: int, model: str, package: str
) -> None:
    from kling_gateway.accounting.pricing import Pricing
    from kling_gateway.catalog import build_catalog

    price = Pricing(build_catalog([])).price_of(family, body)
    assert (price.milli, price.model, price.package_type) == (units, model, package)


async def test_parallel_creates_never_overfill_a_relay_queue(backend: str | None, tmp_path: Path) -> None:
    """The relay channel's queue bound is counted in the insert transaction too (#13 item 1)."""
    from kling_gateway.config import load_settings

    config = tmp_path / "relay.toml"
    config.write_text(
        '[[channels]]\nname = "only"\ntype = "kling"\nbase_url = "http://127.0.0.1:9"\n'
        'access_key = "AK"\nsecret_key = "SK"\nmax_concurrent = 1\nmax_queue = 3\n'
    )
    settings = load_settings(config, data_dir=tmp_path / "data", database_url=backend, workers=0)
    gateway = Gateway(settings, run_workers=False)  # nothing is sent upstream: the queue only fills
    await gateway.start()
    try:
        account = await new_account(gateway)
        results = await create_many(gateway, account, 20, {"prompt": "p"})
        accepted = [r for r in results if not isinstance(r, BaseException)]
        assert len(accepted) == 3 and {r.engine for r in accepted} == {"only"}
        assert codes(results) == [1303] * 17
        refused = next(r for r in results if isinstance(r, KlingError))
        assert "max_queue 3" in refused.message
        assert await count(gateway, tasks, account.id) == 3
        assert await count(gateway, ledger, account.id) == 3  # the refused creates drew nothing
    finally:
        await gateway.stop()
