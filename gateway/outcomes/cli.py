"""``gateway outcomes report [--from] [--to] [--program] [--csv] [--database-url]``.

Prints the program dashboard exactly as ``GET /outcomes/dashboard`` serves it (small cells
suppressed), as JSON or CSV, and records the export in the audit log with the operator's OS account.
"""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import orjson
import typer

outcomes = typer.Typer(help="Program reports (the program dashboard)", no_args_is_help=True)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def build_report(
    settings: Any, since: str | None, until: str | None, program_key: str | None
) -> dict[str, Any]:
    """The suppressed dashboard for one program and period, audited as an export."""
    from gateway.audit.auth_trail import cli_context
    from gateway.audit.log import AuditLog
    from gateway.db.migrate import check_migrated
    from gateway.db.session import Database
    from gateway.fhir.errors import InvalidRequest
    from gateway.outcomes.followup import default_source
    from gateway.outcomes.period import parse_period
    from gateway.outcomes.programs import load_programs
    from gateway.outcomes.service import OutcomesService
    from gateway.outcomes.suppression import suppress

    programs = load_programs(settings)
    program = programs.get(program_key)
    if program is None:
        known = ", ".join(sorted(programs.by_key))
        raise InvalidRequest(f"no program {program_key!r}; known programs: {known}")
    period = parse_period(since, until, program.zone)
    db = Database(settings.database_url)
    try:
        check_migrated(db.engine)
        audit = AuditLog.from_settings(settings)
        with db.unit_of_work() as session:
            body = suppress(
                OutcomesService(session, follow_ups=default_source()).dashboard(program, period)
            )
            what = (
                f"program dashboard {program.key} {body['period']['from']} to "
                f"{body['period']['to']} (command line, aggregates only)"
            )
            audit.append(session, audit.events.export(cli_context(), what))
    finally:
        db.dispose()
    return body


@outcomes.command("report")
def report(
    since: Annotated[
        str | None, typer.Option("--from", help="first day, e.g. 2025-01-01 (default: 12 months)")
    ] = None,
    until: Annotated[str | None, typer.Option("--to", help="last day, e.g. 2025-12-31")] = None,
    program: Annotated[
        str | None, typer.Option("--program", help="program id from GATEWAY_PROGRAMS_FILE")
    ] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of JSON")] = False,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="default GATEWAY_DATABASE_URL")
    ] = None,
) -> None:
    """Print the program dashboard (small counts suppressed) for a period."""
    from sqlalchemy.exc import OperationalError

    from gateway.db.migrate import DatabaseNotMigrated
    from gateway.fhir.errors import FhirError
    from gateway.outcomes.export import to_csv
    from gateway.outcomes.programs import ProgramsError
    from gateway.settings import load_settings

    settings = load_settings().with_overrides(database_url=database_url)
    try:
        body = build_report(settings, since, until, program)
    except FhirError as exc:
        _fail(exc.diagnostics)
    except (ProgramsError, DatabaseNotMigrated) as exc:
        _fail(str(exc))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0][:300] if exc.orig else type(exc).__name__
        _fail(f"cannot use the database: {reason}")
    if as_csv:
        typer.echo(to_csv(body), nl=False)
    else:
        typer.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())


def register(app: typer.Typer) -> None:
    """Add ``gateway outcomes …`` to the main CLI."""
    app.add_typer(outcomes, name="outcomes")
