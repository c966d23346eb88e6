"""3. List: a page of 30 text2video tasks from an account holding 100,000 tasks, first and deep page."""

from __future__ import annotations

from . import report, servers, versus
from .context import BenchContext


def run(ctx: BenchContext) -> report.Section:
    store = ctx.seeded()
    deep = ctx.config.deep_page
    pages = [("page 1 of 30", 1), (f"page {deep} of 30 (offset {(deep - 1) * 30:,})", deep)]
    comparisons = []
    with servers.gateway(store.data_dir, workers=0) as gateway:
        for label, page in pages:
            path = f"/kling/v1/videos/text2video?pageNum={page}&pageSize=30"
            comparisons.append(
                versus.compare(
                    ctx, label, gateway, lambda base, p=path: ctx.spec(base, (p,), store.main.bearer)
                )
            )
        shown = gateway.shown
    section = report.Section(
        "list",
        "List: `GET /kling/v1/videos/text2video?pageNum=N&pageSize=30`",
        intro=(
            f"The account holds {ctx.config.tasks:,} tasks ({int(ctx.config.tasks * 0.8):,} text2video); "
            "pages are ordered newest first. pageNum is capped at 1000 by the API, so the deep page is the "
            "deepest full one. The baseline serves the gateway's captured page (30 task objects) from "
            "memory. No target is set for lists; the ratio is for tracking."
        ),
    )
    section.tables.append(versus.table(comparisons))
    for n, c in enumerate(comparisons):
        section.metrics.update(versus.metrics(f"list{n}", c))
    section.notes += versus.error_notes(comparisons)
    section.commands += [shown, comparisons[-1].command, "python -m bench list"]
    return section
