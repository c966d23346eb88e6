"""A task's charge as its own view reports it: ``final_balance_deduction`` on the legacy task
object (spec-more §1, §7, §8) and ``billing[]`` on the new-standard record (§5.4), both from the
units the ledger charged (``final_unit_deduction``), so the three never disagree.

The gateway draws resource packs only, never a cash balance: ``quota`` (cash taken from the
balance) is ``"0"`` and ``list_price`` is what the units are worth at the catalogue's list price
(``models.toml``: ``unit_list_price``). See docs/accounting.md."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..catalog import unit_list_price
from .pricing import package_type_of

MONEY_PLACES = Decimal("0.0001")
# The ledger's pack types as billing[] names them (§5.4: video, image, audio).
BILLING_PACKAGE = {"try_on": "image"}


def _plain(amount: Decimal) -> str:
    text = format(amount.quantize(MONEY_PLACES, rounding=ROUND_HALF_UP), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def list_price(units: str) -> str:
    """Money the units are worth at list price, a decimal string (at most 4 places)."""
    per_unit, _currency = unit_list_price()
    return _plain(Decimal(units) * per_unit)


def balance_deduction(units: str) -> dict[str, str]:
    """``final_balance_deduction`` for a task charged ``units`` (``"0"`` for a failed task)."""
    return {"quota": "0", "list_price": list_price(units)}


def billing(units: str | None, family: str) -> list[dict[str, Any]]:
    """``billing[]``: one ``unit`` charge on the pack type the ledger drew; empty when nothing
    was charged (a failed task is refunded, a task older than the ledger has no charge)."""
    if units is None or Decimal(units) == 0:
        return []
    kind = package_type_of(family)
    return [{"charge_type": "unit", "amount": units, "package_type": BILLING_PACKAGE.get(kind, kind)}]
