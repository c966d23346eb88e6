"""Every family's task record carries the common fields of spec more §7/§8 (in process, SQLite):
``watermark_info{enabled}``, ``final_unit_deduction`` (a string) and
``final_balance_deduction{quota, list_price}`` (strings) — on the query by task id and by
external id, and on the list, under both layouts; before the task ends and after.

The rows are put in the store as a worker would leave them (one still ``submitted``, one
``succeed`` with a charge), so every family of the table is covered whatever its inputs need."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from inprocess import InProcessGateway, running_gateway
from kling_gateway.catalog import format_units
from kling_gateway.ids import now_ms
from kling_gateway.schemas import FAMILIES, TaskStatus
from support import Account, new_task_row, require_service

pytestmark = pytest.mark.asyncio(loop_scope="module")

PREFIXES = ("/v1", "/kling/v1")
# synchronous families answer the create call itself and have no query or list
RECORDED = sorted(name for name, family in FAMILIES.items() if not family.synchronous)
UNIT_PRICE = Decimal("0.14")  # models.toml unit_list_price


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessGateway]:
    async with running_gateway(tmp_path_factory.mktemp("records")) as running:  # no workers
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def account(app: InProcessGateway) -> Account:
    return await app.create_account("records")


def check_common(record: dict[str, Any], watermark: bool, units: str) -> None:
    assert record["watermark_info"] == {"enabled": watermark}
    assert isinstance(record["final_unit_deduction"], str)
    assert record["final_unit_deduction"] == units
    money = format((Decimal(units) * UNIT_PRICE).normalize(), "f")
    assert record["final_balance_deduction"] == {"quota": "0", "list_price": money}


@pytest.mark.parametrize("family", RECORDED)
async def test_every_family_record_carries_watermark_and_deductions(
    app: InProcessGateway, account: Account, family: str
) -> None:
    tag = family.replace("/", "-")
    waiting = new_task_row(account.account_id, family, {"external_task_id": f"wait-{tag}"})
    done = new_task_row(
        account.account_id, family, {"external_task_id": f"done-{tag}", "watermark_info": {"enabled": True}}
    )
    store = app.gateway.tasks
    await store.insert(waiting)
    await store.insert(done)
    moved = await store.transition(
        done.id,
        from_statuses=(TaskStatus.SUBMITTED,),
        to_status=TaskStatus.SUCCEED,
        now=now_ms(),
        result={},
        final_unit_deduction="2.5",
    )
    assert moved
    entry = await app.gateway.ledger.entry(done.id)  # the ledger's charge wins over an engine's figure
    units = format_units(Decimal(entry.units_milli) / 1000) if entry is not None else "2.5"
    for prefix in PREFIXES:
        for ref in (done.id, f"done-{tag}"):
            answer = await app.client.get(f"{prefix}/{family}/{ref}", headers=account.bearer)
            assert answer.status_code == 200, answer.text
            check_common(answer.json()["data"], watermark=True, units=units)
        pending = await app.client.get(f"{prefix}/{family}/{waiting.id}", headers=account.bearer)
        assert pending.status_code == 200, pending.text
        check_common(pending.json()["data"], watermark=False, units="0")  # nothing settled yet
        listed = await app.client.get(f"{prefix}/{family}", params={"pageSize": 500}, headers=account.bearer)
        assert listed.status_code == 200, listed.text
        by_id = {item["task_id"]: item for item in listed.json()["data"]}
        check_common(by_id[done.id], watermark=True, units=units)
        check_common(by_id[waiting.id], watermark=False, units="0")


async def test_a_synchronous_answer_carries_them_too(app: InProcessGateway, account: Account) -> None:
    """audio/tts answers its create call with the finished task: the same common fields."""
    from kling_gateway.media.speech import espeak_path

    require_service(espeak_path() is not None, "espeak-ng is not installed")
    body = {
        "text": "hello",
        "voice_id": "uk_man2",
        "voice_language": "en",
        "watermark_info": {"enabled": True},
    }
    for prefix in PREFIXES:
        answer = await app.client.post(f"{prefix}/audio/tts", json=body, headers=account.bearer)
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        assert data["task_status"] == "succeed"
        entry = await app.gateway.ledger.entry(data["task_id"])
        assert entry is not None
        check_common(data, watermark=True, units=format_units(Decimal(entry.units_milli) / 1000))


HOUSE_MODEL = {
    "name": "house-video",
    "legacy_name": "house-v1",
    "offers": [
        {
            "family": "videos/text2video",
            "standard": "legacy",
            "resolutions": ["720p", "4k"],
            "durations": {"min": 2, "max": 20},
            "multi_shot": True,
            "prices": [{"resolution": "4k", "units_per_second": 2}, {"units_per_second": 0.5}],
        }
    ],
}


async def test_a_config_only_video_model_is_validated_and_priced_by_its_entry(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A ``[[models]]`` entry is a new text2video model: its own modes, durations, multi-shot and
    prices, no code change (issue #15)."""
    async with running_gateway(tmp_path_factory.mktemp("house"), models=[HOUSE_MODEL]) as house:
        account = await house.create_account("house")
        path = "/v1/videos/text2video"
        ok = {"prompt": "p", "model_name": "house-v1", "mode": "4k", "duration": "20"}
        created = await house.client.post(path, json=ok, headers=account.bearer)
        assert created.status_code == 200, created.text
        entry = await house.gateway.ledger.entry(created.json()["data"]["task_id"])
        assert entry is not None and entry.units_milli == 40_000  # 2 units/s × 20 s
        for body, says in (
            ({**ok, "duration": "21"}, "duration: must be one of 2, 3,"),
            ({**ok, "mode": "pro"}, None),  # std/pro are always accepted on the legacy layout
            ({"prompt": "p", "model_name": "kling-v2-6", "mode": "4k"}, "(4k: kling-v3, house-v1)"),
        ):
            answer = await house.client.post(path, json=body, headers=account.bearer)
            if says is None:
                assert answer.status_code == 200, answer.text
            else:
                assert answer.status_code == 400 and says in answer.json()["message"], answer.text
