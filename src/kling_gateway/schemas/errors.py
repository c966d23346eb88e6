"""Turn pydantic validation errors into one Kling 1201 message naming the field and the rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from ..errors import KlingError, invalid_parameter


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if part == "body":  # FastAPI's prefix for request-body errors
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _clean(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def validation_error(exc: ValidationError) -> KlingError:
    return format_errors(exc.errors(include_url=False))


def format_errors(errors: Sequence[Any]) -> KlingError:
    """One 1201 naming field and rule, from pydantic's (or FastAPI's) error list.

    The first error decides the message; the rest are appended briefly so nothing is hidden."""
    parts = []
    for err in errors[:3]:
        loc = _location(tuple(err.get("loc", ())))
        msg = _clean(str(err.get("msg", "invalid")))
        if err.get("type") == "missing":
            msg = "is required" if loc else "request body is required"
        if err.get("type") in ("model_attributes_type", "dict_type") and not loc:
            msg = "request body must be a JSON object"
        parts.append(f"{loc}: {msg}" if loc else msg)
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return invalid_parameter("; ".join(parts))
