"""Where the API lives: the official ``/v1`` layout or CometAPI's ``/kling/v1`` (spec §1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import ConfigurationError

Layout = Literal["official", "cometapi"]
PREFIXES: dict[str, str] = {"official": "/v1", "cometapi": "/kling/v1"}


@dataclass(frozen=True)
class Endpoint:
    """The API root (scheme, host and any mount path, without ``/v1``) and its layout."""

    root: str
    layout: Layout

    @property
    def prefix(self) -> str:
        return PREFIXES[self.layout]

    def url(self, *parts: str) -> str:
        """``root + prefix + /part/part``, e.g. ``url("videos/text2video", task_id)``."""
        return self.root + self.prefix + "".join("/" + p.strip("/") for p in parts if p)


def resolve(base_url: str, layout: Layout | None = None) -> Endpoint:
    """Pick the layout from the base URL unless given.

    ``https://api.cometapi.com/kling`` and ``.../kling/v1`` mean CometAPI; anything else is the
    official layout (a trailing ``/v1`` is accepted and stripped). An explicit ``layout`` wins.
    """
    if not base_url or not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"base_url must be an http(s) URL, got {base_url!r}")
    if layout is not None and layout not in PREFIXES:
        raise ConfigurationError(f"layout must be 'official' or 'cometapi', got {layout!r}")
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    detected: Layout = "official"
    if root.endswith("/kling"):
        detected = "cometapi"
        root = root[: -len("/kling")]
    chosen = layout or detected
    if chosen == "official" and detected == "cometapi":
        root += "/kling"  # official layout mounted under /kling: keep the path as given
    return Endpoint(root, chosen)
