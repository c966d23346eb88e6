"""``kling-gateway keys create|list|revoke|rotate|limits``, ``packs grant|list|revoke`` and
``usage``: the operator's accounting from the shell. They call
:class:`~kling_gateway.accounting.service.AccountingService`, the code behind the admin API, on
the store the settings name. Output is JSON (usage: or CSV)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .accounting.service import AccountingService, Limits
from .cli_common import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    app,
    keys_app,
    print_json,
    require_store,
    say_store,
    settings_from,
    with_gateway,
)
from .errors import KlingError

packs_app = typer.Typer(help="Grant, list and revoke resource packs.", no_args_is_help=True)
app.add_typer(packs_app, name="packs")

MaxConcurrent = Annotated[
    int | None, typer.Option("--max-concurrent", help="Tasks in flight at once (1303 beyond).")
]
DailyUnits = Annotated[str | None, typer.Option("--daily-units", help="Spend cap: units per UTC day (1101).")]
MonthlyUnits = Annotated[
    str | None, typer.Option("--monthly-units", help="Spend cap: units per UTC month (1101).")
]
Rate = Annotated[
    float | None,
    typer.Option(
        "--rate", help="Requests per second for the account's keys (1302 beyond); overrides the setting."
    ),
]
Burst = Annotated[int | None, typer.Option("--burst", help="Requests in a burst (the token bucket's size).")]


def _run(
    data_dir: Path | None,
    config: Path | None,
    database_url: str | None,
    command: str,
    action: Callable[[AccountingService], Awaitable[Any]],
    *,
    needs_store: bool = True,
) -> Any:
    """Run one accounting action; a refused one exits 2 with the service's message. Only
    ``needs_store=False`` commands (``keys create``) may create the store."""
    settings = settings_from(data_dir, config, database_url)
    say_store(settings)
    if needs_store:
        require_store(settings, command)

    async def call(gateway: Any) -> Any:
        return await action(gateway.accounting)

    try:
        return asyncio.run(with_gateway(settings, call))
    except KlingError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


def _issued(result: Any) -> dict[str, Any]:
    issued, view = result
    return {**view, **issued.as_dict()}


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="A label for the key's owner.")] = "",
    max_concurrent: MaxConcurrent = None,
    daily_units: DailyUnits = None,
    monthly_units: MonthlyUnits = None,
    rate: Rate = None,
    burst: Burst = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an account with its limits; print its API key, access/secret key pair and webhook
    secret (shown once)."""
    limits = Limits(max_concurrent, daily_units, monthly_units, (), rate, burst)
    result = _run(
        data_dir,
        config,
        database_url,
        "keys create",
        lambda s: s.create_account(name, limits),
        needs_store=False,
    )
    print_json(_issued(result))


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """List accounts and their limits (never their secrets)."""
    print_json(_run(data_dir, config, database_url, "keys list", lambda s: s.list_accounts()))


@keys_app.command("revoke")
def keys_revoke(
    account_id: Annotated[str, typer.Argument(help="The account_id printed by 'keys create'.")],
    data_dir: DataDir = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an account's keys (every process stops accepting them within seconds)."""
    from .ids import now_ms

    settings = settings_from(data_dir, config, database_url)
    say_store(settings)
    require_store(settings, "keys revoke")
    ok = asyncio.run(with_gateway(settings, lambda gw: gw.accounts.revoke(account_id, now_ms())))
    if not ok:
        typer.echo(f"no active account {account_id}", err=True)
        raise typer.Exit(2)
    print_json({"account_id": account_id, "revoked": True})


@keys_app.command("rotate")
def keys_rotate(
    account_id: Annotated[str, typer.Argument(help="The account_id printed by 'keys create'.")],
    data_dir: DataDir = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Issue a new API key and access/secret key pair (shown once); the old ones are refused
    within a second, in every process. The webhook secret stays."""
    print_json(_issued(_run(data_dir, config, database_url, "keys rotate", lambda s: s.rotate(account_id))))


@keys_app.command("limits")
def keys_limits(
    account_id: Annotated[str, typer.Argument(help="The account_id printed by 'keys create'.")],
    max_concurrent: MaxConcurrent = None,
    daily_units: DailyUnits = None,
    monthly_units: MonthlyUnits = None,
    rate: Rate = None,
    burst: Burst = None,
    clear: Annotated[
        list[str] | None,
        typer.Option(
            "--clear",
            help="Remove a limit: max_concurrent_tasks, daily_unit_cap, monthly_unit_cap, "
            "rate_limit_per_second, rate_limit_burst.",
        ),
    ] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set or clear an account's limits and print the account."""
    limits = Limits(max_concurrent, daily_units, monthly_units, tuple(clear or ()), rate, burst)
    print_json(
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
    print_json(
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
    print_json(_run(data_dir, config, database_url, "packs list", lambda s: s.packs(account_id)))


@packs_app.command("revoke")
def packs_revoke(
    pack_id: Annotated[str, typer.Argument(help="The resource_pack_id to revoke.")],
    data_dir: DataDir = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a pack: nothing more is drawn from it."""
    print_json(_run(data_dir, config, database_url, "packs revoke", lambda s: s.revoke_pack(pack_id)))


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
        print_json(reconciliation(rows))
    elif as_csv:
        typer.echo(usage_csv(rows), nl=False)
    else:
        print_json({"entries": rows, "summary": usage_summary(rows)})
