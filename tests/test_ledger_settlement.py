"""The ledger's charge as the task views show it, and re-pricing at completion (#16, second
round), through the real app in process (workers running) on SQLite and PostgreSQL.

- The legacy view's ``final_balance_deduction{quota, list_price}`` and the new-standard record's
  ``billing[]`` come from the ledger's units (one source), money from the catalogue's list price.
- An avatar's length follows its audio: admission holds an estimate (5 s); when it finishes the
  charge is re-priced from the decoded output's length, the pack is refunded or drawn the rest,
  and never overdrawn (the unpaid rest is flagged by the reconciliation report)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from inprocess import InProcessGateway, running_gateway
from kling_gateway.accounting.views import reconciliation
from kling_gateway.catalog import Usage, unit_list_price
from kling_gateway.media.probe import probe_av
from support import Account, b64, png_bytes, png_header_only, wav_bytes

pytestmark = pytest.mark.asyncio(loop_scope="module")

IMAGES = "/v1/images/generations"
AVATAR = "/v1/videos/avatar/image2video"
FAILING_IMAGE = b64(png_header_only(600, 600))  # a header with no picture: the worker fails it


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(
    backend: str | None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[InProcessGateway]:
    async with running_gateway(tmp_path_factory.mktemp("settle"), backend, workers=1) as running:
        yield running


async def account_with_pack(app: InProcessGateway, units: str, package_type: str) -> tuple[Account, str]:
    account = await app.create_account("settle")
    pack = await app.gateway.accounting.grant_pack(
        account.account_id, quantity=units, package_type=package_type
    )
    return account, str(pack["resource_pack_id"])


async def remaining(app: InProcessGateway, pack_id: str) -> Decimal:
    pack = await app.gateway.ledger.pack(pack_id)
    assert pack is not None
    return Decimal(pack.remaining_milli) / 1000


async def run(app: InProcessGateway, account: Account, path: str, body: dict[str, Any]) -> dict[str, Any]:
    created = await app.client.post(path, json=body, headers=account.bearer)
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    deadline = time.monotonic() + 180
    while True:
        answer = await app.client.get(f"{path}/{task_id}", headers=account.bearer)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        if data["task_status"] in ("succeed", "failed"):
            return data
        assert time.monotonic() < deadline, f"task {task_id} still {data['task_status']}"
        await asyncio.sleep(0.1)


async def record(app: InProcessGateway, account: Account, task_id: str) -> dict[str, Any]:
    """The new-standard record of a task (``GET /tasks?task_ids=``: legacy tasks too)."""
    answer = await app.client.get("/tasks", params={"task_ids": task_id}, headers=account.bearer)
    assert answer.status_code == 200, answer.text
    (found,) = answer.json()["data"]
    assert found["id"] == task_id
    return dict(found)


# ---- one source: final_unit_deduction, final_balance_deduction, billing[] ---------------------


async def test_views_show_the_ledger_charge_in_units_and_money(app: InProcessGateway) -> None:
    account, pack_id = await account_with_pack(app, "40", "image")
    done = await run(app, account, IMAGES, {"prompt": "a red square", "n": 2})
    failed = await run(app, account, IMAGES, {"prompt": "p", "image": FAILING_IMAGE})
    assert done["task_status"] == "succeed" and failed["task_status"] == "failed", failed
    entry = await app.gateway.ledger.entry(done["task_id"])
    assert entry is not None and entry.units_milli == 16_000  # 8 units per image, n = 2
    per_unit, currency = unit_list_price()
    assert (per_unit, currency) == (Decimal("0.14"), "USD")  # §9: one unit ≈ $0.14 at list price
    assert done["final_unit_deduction"] == "16"
    assert done["final_balance_deduction"] == {"quota": "0", "list_price": "2.24"}  # 16 × 0.14
    assert failed["final_unit_deduction"] == "0"
    assert failed["final_balance_deduction"] == {"quota": "0", "list_price": "0"}
    assert await remaining(app, pack_id) == 24  # the failed task cost nothing
    # the new-standard record of the same tasks bills what the ledger charged, on its pack type
    assert (await record(app, account, done["task_id"]))["billing"] == [
        {"charge_type": "unit", "amount": "16", "package_type": "image"}
    ]
    assert (await record(app, account, failed["task_id"]))["billing"] == []


# ---- re-pricing from the output's real length ----------------------------------------------


async def avatar(
    app: InProcessGateway, account: Account, audio_seconds: float
) -> tuple[dict[str, Any], Decimal]:
    """An avatar speaking ``audio_seconds`` of audio; the task and the catalogue's units for its
    decoded output length."""
    body = {"image": b64(png_bytes(600, 800)), "sound_file": b64(wav_bytes(audio_seconds)), "mode": "std"}
    done = await run(app, account, AVATAR, body)
    assert done["task_status"] == "succeed", done
    response = await app.client.get(done["task_result"]["videos"][0]["url"])
    assert response.status_code == 200
    length = probe_av(response.content).duration
    assert abs(length - audio_seconds) < 0.3  # the length follows the audio, not the 5 s estimate
    billed = Decimal(str(length)).quantize(Decimal(1), rounding="ROUND_HALF_UP")
    units = app.gateway.catalog.units(
        "videos/avatar/image2video", None, Usage(resolution="720p", seconds=billed)
    )
    assert units is not None
    return done, units


async def test_a_shorter_output_refunds_and_a_longer_one_draws_the_rest(app: InProcessGateway) -> None:
    account, pack_id = await account_with_pack(app, "10", "video")
    short, short_units = await avatar(app, account, 2.2)
    assert short_units < 2  # below the 5 s estimate held at admission (0.4 × 5)
    assert await remaining(app, pack_id) == 10 - short_units
    assert short["final_unit_deduction"] == format(short_units.normalize(), "f")
    long, long_units = await avatar(app, account, 7.4)
    assert long_units > 2  # above the estimate: the rest was drawn at completion
    assert await remaining(app, pack_id) == 10 - short_units - long_units
    entry = await app.gateway.ledger.entry(long["task_id"])
    assert entry is not None and entry.status == "settled" and entry.shortfall_milli == 0
    assert Decimal(entry.units_milli) / 1000 == long_units
    assert sum(milli for _, milli, _ in entry.draw_list) == entry.units_milli
    assert entry.seconds is not None and abs(entry.seconds - 7.4) < 0.3
    # the account API lists what each task drew, adding up to the ledger's charge
    now = int(time.time() * 1000)
    window = {"start_time": now - 3_600_000, "end_time": now + 60_000}
    answer = await app.client.post("/account/billing/package", json=window, headers=account.bearer)
    details = answer.json()["data"]["result"]["detail"]
    drawn = {d["task_id"]: Decimal(0) for d in details}
    for d in details:
        drawn[d["task_id"]] += Decimal(d["deduction_amount"])
    assert drawn == {short["task_id"]: short_units, long["task_id"]: long_units}


async def test_a_longer_output_the_packs_cannot_cover_settles_at_what_was_held(app: InProcessGateway) -> None:
    account, pack_id = await account_with_pack(app, "2", "video")  # exactly the 5 s estimate
    done, units = await avatar(app, account, 7.4)
    assert units > 2
    assert await remaining(app, pack_id) == 0  # never overdrawn
    assert done["final_unit_deduction"] == "2"  # what was held
    entry = await app.gateway.ledger.entry(done["task_id"])
    assert entry is not None and entry.units_milli == 2000
    assert Decimal(entry.shortfall_milli) / 1000 == units - 2
    (day,) = reconciliation(await app.gateway.accounting.usage(account_id=account.account_id))
    assert day["flagged"] and day["mismatched"] == []
    assert day["unpaid"] == [
        {"task_id": done["task_id"], "units": "2", "unpaid_units": format((units - 2).normalize(), "f")}
    ]
