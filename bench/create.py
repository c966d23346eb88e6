"""2. Create: POST text2video (validate, insert, enqueue) with workers off, vs a bare JSON handler."""

from __future__ import annotations

import json

from . import report, servers, versus
from .context import BenchContext

RATIO_FLOOR = 0.25
BODY = {
    "model_name": "kling-v2-6",
    "prompt": "a red fox running through snow",
    "duration": "5",
    "mode": "std",
    "aspect_ratio": "16:9",
}


def run(ctx: BenchContext) -> report.Section:
    store = ctx.private_store("create")
    body = json.dumps(BODY, separators=(",", ":"))
    headers = (*store.main.bearer, ("Content-Type", "application/json"))
    with servers.gateway(store.data_dir, workers=0) as gateway:
        c = versus.compare(
            ctx,
            "create text2video, API key, `/kling/v1`",
            gateway,
            lambda base: ctx.spec(base, ("/kling/v1/videos/text2video",), headers, method="POST", body=body),
        )
        shown = gateway.shown
    section = report.Section(
        "create",
        "Create: `POST /kling/v1/videos/text2video`",
        intro=(
            "Each request is validated, inserted (task row + first event, one SQLite write transaction) "
            "and enqueued; the gateway runs with task workers off so nothing renders. The store is a copy of "
            f"the {store.total_tasks:,}-task store. The baseline is a bare Starlette POST handler that parses "
            "the JSON body and returns the gateway's captured create answer."
        ),
    )
    section.tables.append(versus.table([c]))
    section.metrics.update(versus.metrics("create", c))
    section.verdicts.append(
        report.Verdict(
            f"create ≥ {RATIO_FLOOR}× bare req/s", report.ratio(c.rps_ratio), c.rps_ratio >= RATIO_FLOOR
        )
    )
    section.notes += versus.error_notes([c])
    section.notes.append(f"{c.gateway.requests:,} tasks created during the measured runs; body: `{body}`")
    section.commands += [shown, c.command, "python -m bench create"]
    return section
