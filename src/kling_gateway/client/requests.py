"""Request bodies: merge a model/mapping with keyword fields, inline local media, validate.

Validation goes through the same wire model the server uses, so a bad request raises
:class:`ClientValidationError` with the message a 1201 would carry, before anything is sent.
"""

from __future__ import annotations

import base64
import copy
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..schemas import FAMILIES, Family, validation_error
from ..schemas.common import WireModel
from ..schemas.model_limits import CLIENT_SIDE
from .errors import ClientValidationError

# Media fields the family table does not list for the server's input checks, but where a local
# file is just as natural (motion-brush masks).
EXTRA_INPUTS: dict[str, tuple[str, ...]] = {
    "videos/image2video": ("static_mask", "dynamic_masks[].mask"),
    "general/custom-voices": ("voice_url",),  # audio or video: checked by the server's worker
}
MAX_PATH_LENGTH = 4096


def family_named(name: str) -> Family:
    family = FAMILIES.get(name.strip("/"))
    if family is None:
        raise ClientValidationError(f"unknown task family '{name}'; one of: {', '.join(FAMILIES)}")
    return family


def encode_media(value: Any) -> Any:
    """Local file (path or ``Path``) or bytes → raw Base64; URLs and Base64 strings pass through.

    A ``data:...;base64,`` prefix is dropped, since Kling wants raw Base64 (spec §3).
    """
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, os.PathLike):
        return base64.b64encode(Path(value).expanduser().read_bytes()).decode()
    if not isinstance(value, str) or value.startswith(("http://", "https://")):
        return value
    if value.startswith("data:") and ";base64," in value[:200]:
        return value.split(";base64,", 1)[1]
    if len(value) < MAX_PATH_LENGTH and "\n" not in value:
        path = Path(value).expanduser()
        try:
            if path.is_file():
                return base64.b64encode(path.read_bytes()).decode()
        except OSError:  # e.g. a long Base64 string the OS refuses as a file name
            pass
    return value


def _map_path(node: Any, parts: list[str], fn: Callable[[Any], Any]) -> None:
    """Apply ``fn`` in place at a dotted path (``[]`` walks a list), like ``schemas.iter_inputs``."""
    if not parts or not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    is_list = head.endswith("[]")
    key = head[:-2] if is_list else head
    if key not in node:
        return
    if is_list:
        items = node[key]
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            if rest:
                _map_path(item, rest, fn)
            elif item not in (None, ""):
                items[i] = fn(item)
    elif rest:
        _map_path(node[key], rest, fn)
    elif node[key] not in (None, ""):
        node[key] = fn(node[key])


def encode_inputs(family: Family, body: dict[str, Any]) -> dict[str, Any]:
    paths = [path for path, _kind in family.inputs] + list(EXTRA_INPUTS.get(family.name, ()))
    for path in paths:
        _map_path(body, path.split("."), encode_media)
    return body


def validate_body(model: type[BaseModel], body: dict[str, Any]) -> dict[str, Any]:
    """Validate and return the body as it goes on the wire (only the fields that were given).

    Client-side: the per-model rules of a model the packaged catalogue does not know (an
    operator's ``[[models]]`` entry) are left to the gateway (docs/client.md)."""
    try:
        validated = model.model_validate(body, context=CLIENT_SIDE)
    except ValidationError as exc:
        raise ClientValidationError(validation_error(exc).message) from None
    return validated.model_dump(mode="json", exclude_unset=True, exclude_none=True)


def merge_request(
    request: BaseModel | Mapping[str, Any] | None,
    fields: Mapping[str, Any],
    model: type[BaseModel] | None = None,
) -> dict[str, Any]:
    if request is None:
        body: dict[str, Any] = {}
    elif isinstance(request, BaseModel):
        if model is not None and not isinstance(request, model):
            raise ClientValidationError(f"expected a {model.__name__}, got a {type(request).__name__}")
        body = request.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    elif isinstance(request, Mapping):
        body = copy.deepcopy(dict(request))
    else:
        raise ClientValidationError(f"a request must be a model or a mapping, not {type(request).__name__}")
    body.update(copy.deepcopy(dict(fields)))
    return body


def prepare_create(
    family: Family, request: WireModel | Mapping[str, Any] | None, fields: Mapping[str, Any]
) -> dict[str, Any]:
    body = merge_request(request, fields, family.request_model)
    return validate_body(family.request_model, encode_inputs(family, body))
