"""The web console: a small single-page app (plain HTML, CSS and JavaScript, no build step) served
at ``/console``. It talks only to the public HTTP API and the admin API, same-origin."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
