"""1. The query hot path: GET one finished text2video task, store of 100,000+ tasks, vs bare; on
SQLite (API key and JWT, both layouts) and, where a PostgreSQL server is reachable
(``KLING_TEST_PG_DSN``), the API-key query on the same store seeded into a throwaway database."""

from __future__ import annotations

from . import report, scaleout, servers, versus
from .context import BenchContext
from .load import wrk_script
from .seed import SeededStore, seed_store

P99_LIMIT = 3.0
RPS_FLOOR = 0.5
PG_RPS_FLOOR = 0.25  # issue #19: a finished task needs no database round trip


def scenarios(store: SeededStore) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(label, path prefix, headers): API key and JWT on the CometAPI layout, API key on the official one."""
    return [
        ("API key, `/kling/v1`", "/kling/v1/videos/text2video/", store.main.bearer),
        ("JWT, `/kling/v1`", "/kling/v1/videos/text2video/", store.main.jwt()),
        ("API key, `/v1`", "/v1/videos/text2video/", store.main.bearer),
    ]


def _postgres(ctx: BenchContext) -> tuple[versus.Comparison | None, str]:
    """The API-key query on PostgreSQL (the same store seeded into a throwaway database) vs bare;
    None and why when no PostgreSQL server can be reached."""
    why = scaleout.postgres_unavailable()
    if why is not None:
        return None, f"Query on PostgreSQL skipped: {why}."
    with scaleout.database() as url:
        store = seed_store(ctx.root / "store-postgres", ctx.config, database_url=url)
        label, prefix, headers = scenarios(store)[0]
        paths = tuple(prefix + task_id for task_id in store.query_ids)
        with servers.gateway(store.data_dir, workers=0, database_url=url) as gateway:
            compared = versus.compare(
                ctx, f"{label}, PostgreSQL", gateway, lambda base: ctx.spec(base, paths, headers)
            )
    return compared, ""


def run(ctx: BenchContext) -> report.Section:
    store = ctx.seeded()
    comparisons = []
    with servers.gateway(store.data_dir, workers=0) as gateway:
        for label, prefix, headers in scenarios(store):
            paths = tuple(prefix + task_id for task_id in store.query_ids)
            comparisons.append(
                versus.compare(ctx, label, gateway, lambda base, p=paths, h=headers: ctx.spec(base, p, h))
            )
        shown = gateway.shown
    on_postgres, skipped = _postgres(ctx)
    section = report.Section(
        "query",
        "Query hot path: `GET /kling/v1/videos/text2video/{id}`",
        intro=(
            f"Store of {store.total_tasks:,} tasks ({ctx.config.tasks:,} in the queried account over "
            "text2video, image2video and image generations; 5 % failed), seeded straight into SQLite. "
            f"The load cycles over {len(store.query_ids):,} finished text2video tasks with a result "
            f"(signed result URL in every answer), {ctx.config.connections} keep-alive connections, "
            f"{report.plural(ctx.config.runs, 'run')} of {ctx.config.duration:g} s per server, gateway and bare runs "
            "alternating. The baseline is a bare Starlette app on the same uvicorn settings serving the "
            f"gateway's captured answer ({len(comparisons[0].captured)} bytes) from memory."
        ),
    )
    section.tables.append(versus.table(comparisons))
    for n, c in enumerate(comparisons):
        section.metrics.update(versus.metrics(f"query{n}", c))
        section.verdicts.append(
            report.Verdict(
                f"query ({c.label}) ≥ {RPS_FLOOR}× bare req/s",
                report.ratio(c.rps_ratio),
                c.rps_ratio >= RPS_FLOOR,
            )
        )
        section.verdicts.append(
            report.Verdict(
                f"query ({c.label}) p99 ≤ {P99_LIMIT:g}× bare p99",
                report.ratio(c.p99_ratio),
                0 < c.p99_ratio <= P99_LIMIT,
            )
        )
    if on_postgres is not None:
        section.tables.append(versus.table([on_postgres]))
        section.metrics.update(versus.metrics("query_postgres", on_postgres))
        section.verdicts.append(
            report.Verdict(
                f"query on PostgreSQL ({on_postgres.label.removesuffix(', PostgreSQL')}) ≥ {PG_RPS_FLOOR}× bare req/s",
                report.ratio(on_postgres.rps_ratio),
                on_postgres.rps_ratio >= PG_RPS_FLOOR,
            )
        )
        comparisons.append(on_postgres)
    else:
        section.notes.append(skipped)
    section.notes += versus.error_notes(comparisons)
    section.commands += [
        shown + "   # API only: no task workers, nothing renders",
        comparisons[0].command,
        "python -m bench query",
    ]
    if comparisons[0].command.startswith("wrk"):
        sample = ctx.spec(
            "http://127.0.0.1:<port>",
            tuple(prefix + i for i in store.query_ids[:2]),
            (("Authorization", "Bearer <api key>"),),
        )
        section.blocks.append(
            f"The wrk script (2 of the {len(store.query_ids):,} paths shown):\n\n```lua\n"
            + wrk_script(sample)
            + "```"
        )
    return section
