"""Units are stored as integer milli-units: 0.05 units (TTS) and 0.6 units/s are exact."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MILLI = 1000


def to_milli(value: Decimal | str | float | int) -> int:
    """Units (a decimal string or number) as milli-units, rounded half up."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number of units: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a number of units: {value!r}")
    return int((amount * MILLI).quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def format_units(milli: int) -> str:
    """Milli-units as Kling writes them: a decimal string without trailing zeros ("3", "2.4")."""
    text = format(Decimal(milli) / MILLI, "f")  # negative for a difference below zero
    return text.rstrip("0").rstrip(".") if "." in text else text
