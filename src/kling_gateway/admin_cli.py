"""``kling-gateway keys limits``, ``packs grant|list|revoke`` and ``usage``: the operator's
accounting from the shell. They call :class:`~kling_gateway.accounting.service.AccountingService`,
the code behind the admin API, on the store the settings name. Output is JSON (usage: or CSV)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .accounting.service import AccountingService, Limits
from .cli import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    _print_json,
    _require_store,
    _say_store,
    _settings,
    _with_gateway,
    app,
    keys_app,
)
from .errors import KlingError

packs_app = typer.Typer(help="Grant, list and revoke resource packs.", no_args_is_help=True)
app.add_typer(packs_app, name="packs")


def _run(
    data_dir: Path | None,
    config: Path | None,
    database_url: str | None,
    command: str,
    action: Callable[[AccountingService], Awaitable[Any]],
) -> Any:
    """Run one accounting action; a refused one exits 2 with the service's message."""
    settings = _settings(data_dir, config, database_url)
    _say_store(settings)
    _require_store(settings, command)

    async def call(gateway: Any) -> Any:
        return await action(gateway.accounting)

    try:
        return asyncio.run(_with_gateway(settings, call))
    except KlingError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


@keys_app.command("limits")
def keys_limits(
    account_id: Annotated[str, typer.Argument(help="The account_id printed by 'keys create'.")],
    max_concurrent: Annotated[
        int | None, typer.Option("--max-concurrent", help="Tasks in flight at once (1303 beyond).")
    ] = None,
    daily_units: Annotated[
        str | None, typer.Option("--daily-units", help="Units per UTC day (1101).")
    ] = None,
    monthly_units: Annotated[
        str | None, typer.Option("--monthly-units", help="Units per UTC month (1101).")
    ] = None,
    clear: Annotated[
        list[str] | None,
        typer.Option(
            "--clear", help="Remove a limit: max_concurrent_tasks, daily_unit_cap, monthly_unit_cap."
        ),
    ] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set or clear an account's limits and print the account."""
    limits = Limits(max_concurrent, daily_units, monthly_units, tuple(clear or ()))
    _print_json(
        _run(data_dir, config, database_url, "keys limits", lambda s: s.set_limits(account_id, limits))
    )


@packs_app.command("grant")
def packs_grant(
    account_id: Annotated[str, typer.Argument(help="The account to grant the pack to.")],
    units: Annotated[str, typer.Option("--units", help="Units in the pack.")],
    name: Annotated[str, typer.Option("--name", help="The pack's name.")] = "",
    package_type: Annotated[
        str, typer.Option("--package", help="What it pays for: video, image, audio, try_on.")
    ] = "video",
    pack_type: Annotated[
        str, typer.Option("--type", help="decreasing_total or constant_period.")
    ] = "decreasing_total",
    days: Annotated[int, typer.Option("--days", help="Days the pack is valid from now.")] = 30,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="Tasks in flight per model version while online.")
    ] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Grant a resource pack and print it."""
    _print_json(
        _run(
            data_dir,
            config,
            database_url,
            "packs grant",
            lambda s: s.grant_pack(
                account_id,
                quantity=units,
                name=name,
                pack_type=pack_type,
                package_type=package_type,
                days=days,
                concurrency=concurrency,
            ),
        )
    )


@packs_app.command("list")
def packs_list(
    account_id: Annotated[str, typer.Argument(help="The account whose packs to list.")],
    data_dir: DataDir = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List an account's packs with their remaining units and status."""
    _print_json(_run(data_dir, config, database_url, "packs list", lambda s: s.packs(account_id)))


@packs_app.command("revoke")
def packs_revoke(
    pack_id: Annotated[str, typer.Argument(help="The resource_pack_id to revoke.")],
    data_dir: DataDir = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a pack: nothing more is drawn from it."""
    _print_json(_run(data_dir, config, database_url, "packs revoke", lambda s: s.revoke_pack(pack_id)))


@app.command("usage")
def usage(
    account_id: Annotated[str | None, typer.Option("--account", help="One account only.")] = None,
    start_time: Annotated[int | None, typer.Option("--start", help="From (ms; default 30 days ago).")] = None,
    end_time: Annotated[int | None, typer.Option("--end", help="Until (ms; default now).")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of JSON.")] = False,
    reconcile: Annotated[
        bool, typer.Option("--reconcile", help="Per day: our units against the upstream's (relayed tasks).")
    ] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the ledger for a time range: JSON entries with totals, or CSV."""
    from .accounting.views import reconciliation, usage_csv, usage_summary

    rows = _run(
        data_dir,
        config,
        database_url,
        "usage",
        lambda s: s.usage(start_time=start_time, end_time=end_time, account_id=account_id),
    )
    if reconcile:
        _print_json(reconciliation(rows))
    elif as_csv:
        typer.echo(usage_csv(rows), nl=False)
    else:
        _print_json({"entries": rows, "summary": usage_summary(rows)})
