"""6. Relay: placeholder until the relay engine lands (issue: relay)."""

from __future__ import annotations

from . import report
from .context import BenchContext
from .load import REPO_ROOT

RELAY_DIR = REPO_ROOT / "src" / "kling_gateway" / "relay"


def relay_present() -> bool:
    return (RELAY_DIR / "__init__.py").exists()


def run(_ctx: BenchContext) -> report.Section:
    section = report.Section("relay", "Relay")
    if relay_present():
        section.intro = ("Pending the relay issue: `src/kling_gateway/relay/` exists, but its benchmark (relay "
                         "overhead against a fake upstream on loopback) is not written yet.")
    else:
        section.intro = "Pending the relay issue: `src/kling_gateway/relay/` does not exist yet."
    return section
