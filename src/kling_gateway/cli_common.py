"""What the ``kling-gateway`` command's modules share: the Typer apps, the store options every
operator command takes, and the helpers that open the store (``cli`` registers the server
commands, ``admin_cli`` the accounting ones; both import this, neither imports the other's
commands back)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_help import PlainHelpGroup
from .config import Settings, load_settings

app = typer.Typer(
    cls=PlainHelpGroup,
    help="kling-gateway: a self-hostable Kling API gateway. Shell completion: "
    "'kling-gateway --install-completion' (bash, zsh, fish, PowerShell).",
    no_args_is_help=True,
    add_completion=True,
)
keys_app = typer.Typer(help="Manage gateway API keys (accounts).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", envvar="KLING_GATEWAY_DATA_DIR", help="Where the store, results and secrets live."
    ),
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", envvar="KLING_GATEWAY_CONFIG", help="TOML settings file.")
]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", envvar="KLING_GATEWAY_DATABASE_URL", help="SQLAlchemy URL.")
]


def settings_from(
    data_dir: Path | None, config: Path | None, database_url: str | None, **extra: Any
) -> Settings:
    return load_settings(config, data_dir=data_dir, database_url=database_url, **extra)


async def with_gateway(settings: Settings, action):  # type: ignore[no-untyped-def]
    from .gateway import Gateway

    gateway = Gateway(settings, run_workers=False)
    await gateway.db.migrate()
    try:
        return await action(gateway)
    finally:
        await gateway.db.dispose()


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def say_store(settings: Settings) -> None:
    """Which store a keys command works on, on stderr (stdout stays JSON)."""
    from .store_info import describe

    typer.echo("kling-gateway store:\n" + describe(settings), err=True)


def require_store(settings: Settings, command: str) -> None:
    """Read-only commands never create a store: exit 2 with what to do when there is none."""
    from .store_info import missing_store_message, store_exists

    try:
        exists = asyncio.run(store_exists(settings))
    except Exception as exc:  # unreachable server, bad URL...
        typer.echo(f"error: cannot open the database: {exc}", err=True)
        raise typer.Exit(2) from None
    if not exists:
        typer.echo(missing_store_message(settings, command), err=True)
        raise typer.Exit(2)
