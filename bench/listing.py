"""3. List: a page of 30 text2video tasks from an account holding 100,000 tasks, first and deep
page; and the new standard's ``GET /tasks?task_ids=`` with 20 ids (issue #19's targets)."""

from __future__ import annotations

from . import report, servers, versus
from .context import BenchContext

PAGE1_FLOOR = 0.25  # × bare req/s
PAGE1_P99_MS = 10.0
DEEP_P50_MS = 20.0
BY_IDS_FLOOR = 0.2  # × bare req/s, GET /tasks?task_ids= (20 ids)


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
        ids = store.query_ids
        by_ids = tuple(
            f"/tasks?task_ids={','.join(ids[n : n + 20])}" for n in range(0, max(1, len(ids) - 19), 20)
        )
        comparisons.append(
            versus.compare(
                ctx,
                "new standard `GET /tasks?task_ids=` (20 ids)",
                gateway,
                lambda base: ctx.spec(base, by_ids, store.main.bearer),
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
            "memory. The new standard's `GET /tasks?task_ids=` asks for 20 finished tasks at a time, "
            "cycling over the queried ids."
        ),
    )
    section.tables.append(versus.table(comparisons))
    for n, c in enumerate(comparisons):
        section.metrics.update(versus.metrics(f"list{n}", c))
    first, deep_page, by_id = comparisons
    section.verdicts += [
        report.Verdict(
            f"list page 1 ≥ {PAGE1_FLOOR}× bare req/s",
            report.ratio(first.rps_ratio),
            first.rps_ratio >= PAGE1_FLOOR,
        ),
        report.Verdict(
            f"list page 1 p99 ≤ {PAGE1_P99_MS:g} ms",
            f"{report.ms(first.gateway.p99_ms)} ms",
            0 < first.gateway.p99_ms <= PAGE1_P99_MS,
        ),
        report.Verdict(
            f"list page {deep} p50 ≤ {DEEP_P50_MS:g} ms",
            f"{report.ms(deep_page.gateway.p50_ms)} ms",
            0 < deep_page.gateway.p50_ms <= DEEP_P50_MS,
        ),
        report.Verdict(
            f"`GET /tasks?task_ids=` (20 ids) ≥ {BY_IDS_FLOOR}× bare req/s",
            report.ratio(by_id.rps_ratio),
            by_id.rps_ratio >= BY_IDS_FLOOR,
        ),
    ]
    section.notes += versus.error_notes(comparisons)
    section.commands += [shown, comparisons[-1].command, "python -m bench list"]
    return section
