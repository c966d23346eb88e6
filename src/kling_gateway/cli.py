"""The ``kling-gateway`` command: run the server and its workers, migrate, doctor. The operator's
accounting commands (keys, packs, usage) live in admin_cli, client commands in client/cli; the
shared apps and options in cli_common."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import __version__
from .cli_common import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    app,
    print_json,
    settings_from,
)
from .client.cli import register as _register_client_commands
from .client.resource_cli import register as _register_resource_commands
from .config import Settings
from .heap import freeze_startup_heap

_register_client_commands(app)  # submit, task get/list/wait/download
_register_resource_commands(app)  # voices ..., elements ...


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"kling-gateway {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """kling-gateway: a self-hostable Kling API gateway."""


def _store_flags(settings: Settings, config: Path | None) -> str:
    """The flags that point another command at this server's store."""
    from .store_info import shown_url

    if config is not None:
        return f" --config {config.resolve()}"
    flags = f" --data-dir {settings.data_dir.resolve()}"
    if not settings.is_sqlite:
        flags += f" --database-url '{shown_url(settings.resolved_database_url)}'"
    return flags


def start_banner(config: Path | None):  # type: ignore[no-untyped-def]
    """What ``serve`` says once it has started (see :func:`_start_banner`)."""

    async def banner(gateway) -> None:  # type: ignore[no-untyped-def]
        await _start_banner(gateway, _store_flags(gateway.settings, config))
        freeze_startup_heap()  # started: what exists now lives as long as the process (heap.py)

    return banner


async def _start_banner(gateway, flags: str) -> None:  # type: ignore[no-untyped-def]
    """Where the data lives; on an empty store a new key (shown this once) and a request that works
    right away; on later starts how many accounts exist and how to make or list keys (never a secret)."""
    from .keys import create_account
    from .store_info import describe

    settings = gateway.settings
    base = settings.base_url()
    head = (
        f"\nkling-gateway {__version__} on {base}  (front page {base}/, API docs {base}/docs)\n"
        f"{describe(settings)}\n"
    )
    accounts = await gateway.accounts.list()
    if accounts:
        active = sum(1 for a in accounts if a.revoked_at is None)
        typer.echo(
            head + f"  accounts : {len(accounts)} ({active} active); keys are shown only when created.\n"
            f"  new key  : kling-gateway keys create --name NAME{flags}\n"
            f"  list     : kling-gateway keys list{flags}\n"
        )
        sys.stdout.flush()
        return
    issued = await create_account(gateway.accounts, gateway.box, "first key")
    typer.echo(
        head + "\nNo keys yet, so one was created for you. It is shown this once, never again: save it now.\n"
        f"  api_key        = {issued.api_key}\n"
        f"  access_key     = {issued.access_key}\n"
        f"  secret_key     = {issued.secret_key}\n"
        f"  webhook_secret = {issued.webhook_secret}   (verifies this account's callbacks)\n"
        f"  account_id     = {issued.account_id}\n\n"
        f"Another key: kling-gateway keys create --name NAME{flags}\n\n"
        "Create a task:\n"
        f"  curl -s {base}/kling/v1/videos/text2video \\\n"
        f"    -H 'Authorization: Bearer {issued.api_key}' -H 'Content-Type: application/json' \\\n"
        '    -d \'{"prompt": "a red fox running through snow", "duration": "5"}\'\n'
        "Then poll it:\n"
        f"  curl -s {base}/kling/v1/videos/text2video/<task_id> -H 'Authorization: Bearer {issued.api_key}'\n",
        err=False,
    )
    sys.stdout.flush()


def _port_free(host: str, port: int) -> OSError | None:
    """Bind-test the address as uvicorn will (SO_REUSEADDR), before the first-start key is made."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="In-process task workers.")] = None,
    no_workers: Annotated[
        bool, typer.Option("--no-workers", help="API only; run 'worker' elsewhere.")
    ] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    ssl_certfile: Annotated[
        Path | None, typer.Option("--ssl-certfile", help="PEM certificate: serve HTTPS (docs/deploy.md).")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option("--ssl-keyfile", help="PEM private key of --ssl-certfile.")
    ] = None,
) -> None:
    """Run the gateway: SQLite and results under the data dir, migrations on start, in-process workers.

    The first start on an empty store creates a key and prints it once (with its webhook secret).
    """
    import uvicorn

    from .api import create_app
    from .tls import tls_options, tls_problem

    settings = settings_from(
        data_dir,
        config,
        database_url,
        host=host,
        port=port,
        workers=0 if no_workers else workers,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
    tls_error = tls_problem(settings)
    if tls_error is not None:
        typer.echo(f"error: {tls_error}", err=True)
        raise typer.Exit(1)
    problem = _port_free(settings.host, settings.port)
    if problem is not None:
        import errno

        if problem.errno == errno.EADDRINUSE:
            typer.echo(
                f"error: {settings.host}:{settings.port} is already in use (another kling-gateway?). "
                "Pick another port with --port N (or KLING_GATEWAY_PORT), or stop the process holding it.",
                err=True,
            )
        else:
            typer.echo(f"error: cannot listen on {settings.host}:{settings.port}: {problem}", err=True)
        raise typer.Exit(1)
    from .server import uvicorn_options

    application = create_app(settings, on_started=start_banner(config))
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=5,
        **uvicorn_options(settings),  # header/body deadlines, 431, keep-alive (server.py)
        **tls_options(settings),  # HTTPS when ssl_certfile is set (tls.py)
    )


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, help="Tasks run at once per queue (default: settings.workers)."),
    ] = None,
    queues: Annotated[
        str, typer.Option("--queues", help="Comma-separated: render (reference engine), relay.")
    ] = "render,relay",
    data_dir: DataDir = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
    log_level: Annotated[str, typer.Option(help="Python log level.")] = "warning",
) -> None:
    """Run task workers only (no HTTP), plus the reconciler and sweeper; pair with 'serve --no-workers'."""
    import logging

    from .gateway import run_worker_process
    from .jobs.distributed import parse_queues

    try:
        chosen = parse_queues(queues)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--queues") from None
    settings = settings_from(data_dir, config, database_url, workers=concurrency)
    if settings.workers < 1:
        settings.workers = 1
    logging.basicConfig(level="DEBUG" if os.environ.get("KLING_GATEWAY_DEBUG") else log_level.upper())
    asyncio.run(run_worker_process(settings, chosen))


@app.command()
def migrate(data_dir: DataDir = None, config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Apply database migrations (and the procrastinate schema with job_backend = procrastinate), then exit."""

    async def run() -> dict[str, Any]:
        from .gateway import Gateway

        gateway = Gateway(settings_from(data_dir, config, database_url), run_workers=False)
        try:
            await gateway.db.migrate()
            applied = await gateway.distributed.prepare() if gateway.distributed is not None else False
            return {"migrated": True, "procrastinate_schema_applied": applied}
        finally:
            await gateway.db.dispose()

    print_json(asyncio.run(run()))


@app.command()
def doctor(data_dir: DataDir = None, config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Check the install: codecs, espeak-ng, database and migrations, storage, channels, clock.

    Prints OK / WARN / FAIL lines with what to fix; exit status 1 when anything FAILs. Creates nothing.
    """
    from .doctor import run_checks

    settings = settings_from(data_dir, config, database_url)
    checks = asyncio.run(run_checks(settings))
    for check in checks:
        typer.echo(check.line())
    failed = sum(1 for c in checks if c.level == "FAIL")
    warned = sum(1 for c in checks if c.level == "WARN")
    typer.echo(f"\n{len(checks)} checks: {failed} failed, {warned} warnings")
    if failed:
        raise typer.Exit(1)


from . import admin_cli as _admin_cli  # noqa: E402,F401 - registers keys, packs, usage


def main() -> None:
    if os.environ.get("KLING_GATEWAY_DEBUG"):
        import logging

        logging.basicConfig(level=logging.DEBUG)
    app(prog_name="kling-gateway")  # the same name (and completion variable) under python -m


if __name__ == "__main__":
    main()
