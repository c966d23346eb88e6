"""``element_id`` references: an element of the caller's account, or a built-in preset.

The gateway's element id is the id of the ``general/advanced-custom-elements`` task that made
it; the element lives in that task's result (``elements[0]``, ``status`` ``succeed`` or, once
deleted, ``deleted``). Another account's element, a deleted one, a failed creation and a missing
id all read the same: absent. Presets (``PRESETS``) are shared by every account and cannot be
deleted.
"""

from __future__ import annotations

import json
from typing import Any

from .schemas.elements import ELEMENTS
from .schemas.tasks import TaskStatus
from .store import TaskRow

# The official elements (GET general/advanced-presets-elements): ids, names and tags.
PRESETS: tuple[dict[str, Any], ...] = tuple(
    {
        "element_id": element_id,
        "element_name": name,
        "element_description": description,
        "reference_type": "image_refer",
        "element_image_list": {"frontal_image": "", "refer_images": []},
        "element_video_list": None,
        "element_voice_info": None,
        "tag_list": [{"tag_id": tag}],
        "owned_by": "kling",
        "status": "succeed",
    }
    for element_id, name, description, tag in (
        (900000000000000101, "Explorer", "A young explorer in a khaki jacket", "o_102"),
        (900000000000000102, "Red fox", "A red fox with a white-tipped tail", "o_103"),
        (900000000000000103, "Vintage camera", "A brass and leather film camera", "o_104"),
        (900000000000000104, "Knight armour", "Polished steel plate armour", "o_105"),
        (900000000000000105, "Lighthouse cove", "A lighthouse above a rocky cove", "o_106"),
        (900000000000000106, "Sparkles", "Golden sparkles drifting upward", "o_107"),
    )
)
PRESET_IDS = {str(p["element_id"]) for p in PRESETS}


def own_element(row: TaskRow | None, account_id: str) -> dict[str, Any] | None:
    """The element made by ``row`` when it is a live element of ``account_id``, else None."""
    if (
        row is None
        or row.account_id != account_id
        or row.family != ELEMENTS
        or row.status != TaskStatus.SUCCEED
    ):
        return None
    elements = (json.loads(row.result) if row.result else {}).get("elements") or []
    element = elements[0] if elements and isinstance(elements[0], dict) else None
    return element if element is not None and element.get("status") == TaskStatus.SUCCEED else None


def preset(element_id: str) -> dict[str, Any] | None:
    return next((p for p in PRESETS if str(p["element_id"]) == element_id), None)


def deleted_result(result: str) -> dict[str, Any]:
    """A creation task's result with its element marked ``deleted``."""
    data: dict[str, Any] = json.loads(result)
    data["elements"] = [{**e, "status": "deleted"} for e in data.get("elements") or []]
    return data
