"""Packs and ledger entries as the wire shows them: Kling's account API (spec-more §7.10) and
the operator's usage export (JSON rows, CSV)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from ..store import AccountRow, DailyUsage, LedgerRow, PackRow
from .units import MILLI, format_units

PRODUCT_TYPES = {"video": "video", "image": "image", "try_on": "try-on", "audio": "audio"}

USAGE_COLUMNS = (
    "task_id",
    "account_id",
    "account_name",
    "family",
    "model_name",
    "resolution",
    "duration",
    "items",
    "package_type",
    "units",
    "status",
    "packs",
    "upstream_units",
    "created_at",
    "settled_at",
    "unpaid_units",
)


def pack_view(pack: PackRow, now: int) -> dict[str, Any]:
    """One ``resource_pack_subscribe_infos`` item of ``GET /account/costs``."""
    return {
        "resource_pack_name": pack.name,
        "resource_pack_id": pack.id,
        "resource_pack_type": pack.pack_type,
        "total_quantity": pack.total_milli / MILLI,
        "remaining_quantity": pack.remaining_milli / MILLI,
        "purchase_time": pack.purchase_time,
        "effective_time": pack.effective_time,
        "invalid_time": pack.invalid_time,
        "status": pack.status(now),
    }


def admin_pack_view(pack: PackRow, now: int) -> dict[str, Any]:
    """The operator's view: Kling's fields plus what the gateway enforces."""
    return {
        **pack_view(pack, now),
        "account_id": pack.account_id,
        "package_type": pack.package_type,
        "concurrency": pack.concurrency,
        "revoked_at": pack.revoked_at,
    }


def _duration(entry: LedgerRow) -> str:
    return f"{entry.seconds:.2f}" if entry.seconds is not None else ""


def package_details(entry: LedgerRow, account: AccountRow) -> list[dict[str, Any]]:
    """``POST /account/billing/package`` detail items: one per pack the task drew on."""
    return [
        {
            "task_id": entry.task_id,
            "api_key_name": account.name,
            "product_function": entry.family.rsplit("/", 1)[-1],
            "model_name": entry.model,
            "resolution": entry.resolution,
            "duration": _duration(entry),
            "deduction_time": str(entry.created_at),
            "deduction_amount": format_units(milli),
            "package_id": pack_id,
            "product_type": PRODUCT_TYPES.get(entry.package_type, entry.package_type),
            "unit_before_deduction": format_units(before),
            "unit_after_deduction": format_units(before - milli),
        }
        for pack_id, milli, before in entry.draw_list
    ]


def usage_row(entry: LedgerRow, account_name: str) -> dict[str, Any]:
    """One ledger entry for the operator (JSON) and the CSV export (same keys, same order)."""
    return {
        "task_id": entry.task_id,
        "account_id": entry.account_id,
        "account_name": account_name,
        "family": entry.family,
        "model_name": entry.model,
        "resolution": entry.resolution,
        "duration": _duration(entry),
        "items": entry.items,
        "package_type": entry.package_type,
        "units": format_units(0 if entry.status == "refunded" else entry.units_milli),
        "status": entry.status,
        "packs": " ".join(pack_id for pack_id, _, _ in entry.draw_list),
        "upstream_units": entry.upstream_units or "",
        "created_at": entry.created_at,
        "settled_at": entry.settled_at if entry.settled_at is not None else "",
        "unpaid_units": format_units(entry.shortfall_milli),
    }


def daily_view(rows: list[DailyUsage]) -> list[dict[str, Any]]:
    """``GET /account/usage/daily`` items: the day as ``YYYY-MM-DD`` (in the asked time zone)."""
    return [
        {
            "day": datetime.fromtimestamp(r.day * 86_400, UTC).strftime("%Y-%m-%d"),
            "family": r.family,
            "model_name": r.model,
            "tasks": r.tasks,
            "failed": r.failed,
            "units": r.units_milli / MILLI,
        }
        for r in rows
    ]


def usage_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=USAGE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def usage_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Totals per account, family and model: tasks, failures, seconds, units."""
    from decimal import Decimal

    totals: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["account_id"], row["family"], row["model_name"])
        total = totals.setdefault(
            key,
            {
                "account_id": key[0],
                "family": key[1],
                "model_name": key[2],
                "tasks": 0,
                "failed": 0,
                "seconds": 0.0,
                "units": Decimal(0),
            },
        )
        total["tasks"] += 1
        total["failed"] += row["status"] == "refunded"
        total["seconds"] += float(row["duration"] or 0) if row["status"] != "refunded" else 0.0
        total["units"] += Decimal(row["units"])
    return [{**t, "units": format_units(int(t["units"] * MILLI))} for t in totals.values()]


def reconciliation(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per UTC day, our units against the upstream's for relayed tasks (those with an upstream
    figure), and the tasks re-priced at completion above what their packs could cover
    (``unpaid``); a day is flagged when a relayed task's figures differ or a task went unpaid."""
    from datetime import UTC, datetime
    from decimal import Decimal

    days: dict[str, dict[str, Any]] = {}
    for row in rows:
        unpaid = Decimal(row["unpaid_units"] or 0)
        relayed = bool(row["upstream_units"])
        if row["status"] != "settled" or not (relayed or unpaid):
            continue
        day = datetime.fromtimestamp(row["created_at"] / 1000, UTC).strftime("%Y-%m-%d")
        total = days.setdefault(
            day,
            {
                "day": day,
                "tasks": 0,
                "units": Decimal(0),
                "upstream_units": Decimal(0),
                "mismatched": [],
                "unpaid": [],
            },
        )
        if unpaid:
            total["unpaid"].append(
                {"task_id": row["task_id"], "units": row["units"], "unpaid_units": row["unpaid_units"]}
            )
        if not relayed:
            continue
        ours, theirs = Decimal(row["units"]), Decimal(row["upstream_units"])
        total["tasks"] += 1
        total["units"] += ours
        total["upstream_units"] += theirs
        if ours != theirs:
            total["mismatched"].append(
                {"task_id": row["task_id"], "units": row["units"], "upstream_units": row["upstream_units"]}
            )
    report = []
    for total in sorted(days.values(), key=lambda t: t["day"]):
        difference = total["upstream_units"] - total["units"]
        report.append(
            {
                **total,
                "units": format_units(int(total["units"] * MILLI)),
                "upstream_units": format_units(int(total["upstream_units"] * MILLI)),
                "difference": format_units(int(difference * MILLI)),
                "flagged": bool(total["mismatched"] or total["unpaid"]),
            }
        )
    return report
