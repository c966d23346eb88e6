"""The upstream relay: hands tasks to Kling, CometAPI or any Kling-compatible upstream (another
kling-gateway included), tracks them by callback and adaptive polling, and mirrors the results.

See ``docs/relay.md`` for the channel file format and the design.
"""

from __future__ import annotations

from ...config import Settings
from .callbacks import Inbox
from .channels import ChannelConfig, ChannelConfigError, parse_channels
from .engine import ChannelEngine, RelayCore


def build_channels(settings: Settings, inbox: Inbox | None = None) -> list[ChannelEngine]:
    """One engine per ``[[channels]]`` table, highest priority first (the router tries them in order).

    ``inbox`` is where the callback route keeps upstream callbacks for the channels to read."""
    channels = parse_channels(settings.channels)
    if not channels:
        return []
    core = RelayCore(settings, channels, inbox)
    return [ChannelEngine(core, channel) for channel in channels]


__all__ = [
    "ChannelConfig",
    "ChannelConfigError",
    "ChannelEngine",
    "RelayCore",
    "build_channels",
    "parse_channels",
]
