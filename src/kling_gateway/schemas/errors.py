"""Turn pydantic validation errors into one Kling 1201 message naming the field and the rule."""

from __future__ import annotations

from pydantic import ValidationError

from ..errors import KlingError, invalid_parameter


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _clean(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def validation_error(exc: ValidationError) -> KlingError:
    """The first error decides the message; the rest are appended briefly so nothing is hidden."""
    errors = exc.errors(include_url=False)
    parts = []
    for err in errors[:3]:
        loc = _location(tuple(err["loc"]))
        msg = _clean(err["msg"])
        if err["type"] == "missing":
            msg = "is required"
        parts.append(f"{loc}: {msg}" if loc else msg)
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return invalid_parameter("; ".join(parts))
