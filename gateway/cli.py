"""The ``gateway`` command: serve, migrate, demo."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gateway.settings import load_settings

app = typer.Typer(help="Crisis Exchange Gateway", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database administration", no_args_is_help=True)
app.add_typer(db_app, name="db")

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL; default GATEWAY_DATABASE_URL or var/gateway.db"),
]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply the database migrations (creates the schema on a new database)."""
    from sqlalchemy.exc import OperationalError

    from gateway.db.migrate import upgrade

    settings = load_settings().with_overrides(database_url=database_url)
    try:
        upgrade(settings.database_url)
    except OperationalError as exc:
        _fail(f"cannot reach the database: {type(exc.orig).__name__}")
    typer.echo("database is at the latest revision")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    database_url: DatabaseUrl = None,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the gateway over HTTP."""
    import os

    import uvicorn

    from gateway.db.migrate import DatabaseNotMigrated, check_migrated
    from gateway.db.session import Database

    settings = load_settings().with_overrides(database_url=database_url)
    if "GATEWAY_BASE_URL" not in os.environ:
        os.environ["GATEWAY_BASE_URL"] = f"http://{host}:{port}"
    os.environ["GATEWAY_DATABASE_URL"] = settings.database_url
    probe = Database(settings.database_url, pool_size=1)
    try:
        check_migrated(probe.engine)
    except DatabaseNotMigrated as exc:
        _fail(str(exc))
    finally:
        probe.dispose()
    uvicorn.run(
        "gateway.asgi:app", host=host, port=port, workers=workers, log_level="info", access_log=False
    )


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    database_url: DatabaseUrl = None,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve after loading")] = True,
) -> None:
    """Migrate the embedded database, load demo data and serve."""
    from gateway.db.migrate import upgrade
    from gateway.demo import load_demo

    settings = load_settings().with_overrides(database_url=database_url)
    upgrade(settings.database_url)
    summary = load_demo(settings)
    typer.echo(summary)
    typer.echo(
        f"\nThe gateway is starting on http://{host}:{port}\n"
        f"  capability statement: http://{host}:{port}/fhir/metadata\n"
        f"  patients:             http://{host}:{port}/fhir/Patient\n"
        f"  API docs:             http://{host}:{port}/docs\n"
        "Authentication is not enforced yet in this build (development caller); tokens arrive with the\n"
        "SMART Backend Services work.\n"
    )
    if serve_after:
        serve(host=host, port=port, database_url=settings.database_url, workers=1)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
