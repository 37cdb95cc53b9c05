"""The ``gateway`` command: serve, migrate, demo.

Operator mistakes (an unreachable or un-migrated database, a malformed URL) end with one ``error:``
line naming the fix and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from gateway.audit.cli import register as register_audit_commands
from gateway.auth.cli import register as register_registry_commands
from gateway.ingest.cli import register as register_ingest_commands
from gateway.outcomes.cli import register as register_outcomes_commands
from gateway.placement.facilities_cli import register as register_facility_commands
from gateway.settings import Settings, load_settings
from gateway.sharing.cli import register as register_policy_commands

if TYPE_CHECKING:
    from gateway.db.session import Database

app = typer.Typer(help="Crisis Exchange Gateway", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database administration", no_args_is_help=True)
app.add_typer(db_app, name="db")
register_registry_commands(app)  # gateway agencies|clients|users|keys|token
register_ingest_commands(app)  # gateway ingest, gateway mllp
register_policy_commands(app)  # gateway policy
register_facility_commands(app)  # gateway facilities
register_audit_commands(app)  # gateway audit
register_outcomes_commands(app)  # gateway outcomes

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="SQLAlchemy URL; default GATEWAY_DATABASE_URL or var/gateway.db"
    ),
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _shown(url: str) -> str:
    """The URL with any password masked, fit for a message."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """Turn the ways a database URL can be wrong into one clear ``error:`` line."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    from gateway.db.migrate import DatabaseNotMigrated

    try:
        yield
    except DatabaseNotMigrated as exc:
        _fail(str(exc))
    except OperationalError as exc:
        # The driver's first line says what failed (refused, unknown host, bad password) without
        # echoing the password itself.
        reason = str(exc.orig).strip().splitlines()[0][:300] if exc.orig else type(exc).__name__
        _fail(f"cannot reach the database {_shown(url)}: {reason}")
    except NoSuchModuleError:
        _fail(
            f"unsupported database URL {_shown(url)}: use sqlite:///path/to/file.db or "
            "postgresql+psycopg://user@host:5432/dbname"
        )
    except ArgumentError:
        _fail(
            "the database URL is not a SQLAlchemy URL: use sqlite:///path/to/file.db or "
            "postgresql+psycopg://user@host:5432/dbname"
        )


def _require_sqlite_file(url: str) -> None:
    """Serving must not create an empty SQLite file (and its directories) at a mistyped path."""
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # reported by _database_errors with the other URL mistakes
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return
    if not Path(path).is_file():
        _fail(
            f"there is no database at {_shown(url)}; run `gateway db upgrade` "
            "(with the same --database-url) to create it"
        )


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply the database migrations (creates the schema on a new database)."""
    from gateway.db.migrate import upgrade

    settings = load_settings().with_overrides(database_url=database_url)
    with _database_errors(settings.database_url):
        upgrade(settings.database_url)
    typer.echo(f"database {_shown(settings.database_url)} is at the latest revision")


def _check_production(settings: Settings, database: Database) -> None:
    from gateway.app import UnsafeProductionSettings, check_production
    from gateway.auth.keys import KeyStore

    try:
        check_production(settings, KeyStore(settings.key_dir), database)
    except UnsafeProductionSettings as exc:
        _fail(str(exc))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    database_url: DatabaseUrl = None,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    mllp_port: Annotated[
        int | None,
        typer.Option("--mllp-port", help="also listen for HL7 v2 over MLLP on this port"),
    ] = None,
) -> None:
    """Serve the gateway over HTTP (and HL7 v2 over MLLP with --mllp-port)."""
    import os

    from gateway.db.migrate import check_migrated
    from gateway.db.session import Database

    base_url = os.environ.get("GATEWAY_BASE_URL") or f"http://{host}:{port}"
    settings = load_settings().with_overrides(database_url=database_url, base_url=base_url)
    _require_sqlite_file(settings.database_url)
    # What each worker would refuse with a traceback at import time, refused here in one line.
    with _database_errors(settings.database_url):
        probe = Database(settings.database_url, pool_size=1)
        try:
            check_migrated(probe.engine)
            if settings.production:
                _check_production(settings, probe)
        finally:
            probe.dispose()
    # uvicorn imports gateway.asgi (in each worker), which builds its settings from the environment.
    os.environ["GATEWAY_BASE_URL"] = settings.base_url
    os.environ["GATEWAY_DATABASE_URL"] = settings.database_url
    if mllp_port:
        os.environ["GATEWAY_MLLP_PORT"] = str(mllp_port)
        os.environ.setdefault("GATEWAY_MLLP_HOST", host)
    import uvicorn

    uvicorn.run(
        "gateway.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    database_url: DatabaseUrl = None,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after loading")
    ] = True,
) -> None:
    """Migrate the database, load the demo data (idempotent) and serve."""
    from gateway.auth.keys import KeyStore
    from gateway.db.migrate import upgrade
    from gateway.demo import load_demo

    settings = load_settings().with_overrides(database_url=database_url)
    if settings.production:
        _fail(
            "`gateway demo` loads synthetic patients; it does not run with GATEWAY_ENV=production"
        )
    with _database_errors(settings.database_url):
        upgrade(settings.database_url)
        summary = load_demo(settings)
    # Keys a demo has used must never sign production tokens: production start-up refuses them.
    keys = KeyStore(settings.key_dir)
    keys.load()
    keys.mark_demo()
    typer.echo(summary)
    if not serve_after:
        return
    typer.echo(
        f"\nThe gateway is starting on http://{host}:{port}\n"
        f"  capability statement: http://{host}:{port}/fhir/metadata\n"
        f"  SMART configuration:  http://{host}:{port}/fhir/.well-known/smart-configuration\n"
        f"  API docs:             http://{host}:{port}/docs\n"
        f"  web console:          http://{host}:{port}/console  (sign in as a demo person above)\n"
    )
    serve(host=host, port=port, database_url=settings.database_url, workers=1, mllp_port=None)


def main() -> None:
    """Entry point of the ``gateway`` console script and of ``python -m gateway``."""
    try:
        app(prog_name="gateway")
    except KeyboardInterrupt:
        sys.exit(130)
