"""Turn pydantic validation errors into one Kling 1201 message naming the field and the rule.

A missing field or a value out of range is said with what the field accepts ("duration: is
required (a number from 3 to 10)"), read from the request model's own constraints.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Sequence
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

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


@functools.cache
def _models_by_name() -> dict[str, type[BaseModel]]:
    from .families import FAMILIES
    from .selection import InitSelectionRequest, SelectionPointsRequest, SessionRequest

    models: list[type[BaseModel]] = [f.request_model for f in FAMILIES.values()]
    models += [InitSelectionRequest, SelectionPointsRequest, SessionRequest]
    return {m.__name__: m for m in models}


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (``X``, ``X | None``, ``list[X]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def field_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> FieldInfo | None:
    """The field a pydantic error location points at, walking nested models and lists."""
    info: FieldInfo | None = None
    for part in loc:
        if part == "body" or isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        info = model.model_fields[part]
        model = _inner_model(info.annotation)
    return info


def _num(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def allowed_values(info: FieldInfo) -> str | None:
    """What a field accepts, in words, from its constraints (``None`` when it has none)."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if isinstance(extra.get("x-allowed"), str):
        return str(extra["x-allowed"])
    annotation = info.annotation
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is typing.Literal:
            return "one of " + ", ".join(str(v) for v in typing.get_args(arg))
    low = high = None
    min_len = max_len = None
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge | annotated_types.Gt):
            low = (
                meta.ge if isinstance(meta, annotated_types.Ge) else meta.gt,
                isinstance(meta, annotated_types.Gt),
            )
        elif isinstance(meta, annotated_types.Le | annotated_types.Lt):
            high = (
                meta.le if isinstance(meta, annotated_types.Le) else meta.lt,
                isinstance(meta, annotated_types.Lt),
            )
        elif isinstance(meta, annotated_types.MinLen):
            min_len = meta.min_length
        elif isinstance(meta, annotated_types.MaxLen):
            max_len = meta.max_length
    if low is not None and high is not None and not low[1] and not high[1]:
        return f"a number from {_num(low[0])} to {_num(high[0])}"
    if low is not None or high is not None:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low[1] else '≥'} {_num(low[0])}")
        if high is not None:
            bounds.append(f"{'<' if high[1] else '≤'} {_num(high[0])}")
        return "a number " + " and ".join(bounds)
    if min_len is not None or max_len is not None:
        unit = "characters" if str in (annotation, *typing.get_args(annotation)) else "items"
        if min_len and max_len:
            return f"{min_len} to {max_len} {unit}"
        return f"at most {max_len} {unit}" if max_len else f"at least {min_len} {unit}"
    return None


_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def validation_error(exc: ValidationError) -> KlingError:
    return format_errors(exc.errors(include_url=False), _models_by_name().get(exc.title))


def format_errors(errors: Sequence[Any], model: type[BaseModel] | None = None) -> KlingError:
    """One 1201 naming field and rule, from pydantic's (or FastAPI's) error list.

    The first error decides the message; the rest are appended briefly so nothing is hidden.
    With the request ``model``, a missing or out-of-range field also says what it accepts."""
    parts = []
    for err in errors[:3]:
        raw_loc = tuple(err.get("loc", ()))
        loc = _location(raw_loc)
        msg = _clean(str(err.get("msg", "invalid")))
        kind = err.get("type")
        info = field_at(model, raw_loc) if model is not None and raw_loc else None
        allowed = allowed_values(info) if info is not None else None
        if kind == "missing":
            msg = "is required" if loc else "request body is required"
            if allowed:
                msg += f" ({allowed})"
        elif kind in _RANGE_ERRORS and allowed:
            msg = f"must be {allowed}, got {err.get('input')!r}"
        if err.get("type") in ("model_attributes_type", "dict_type") and not loc:
            msg = "request body must be a JSON object"
        parts.append(f"{loc}: {msg}" if loc else msg)
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return invalid_parameter("; ".join(parts))
