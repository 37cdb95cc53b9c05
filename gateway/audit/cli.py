"""``gateway audit checkpoint|verify|witness|key|grants``.

Exit codes: 0 all good; 1 the log or a checkpoint failed verification, or a fork was seen (the
first bad index is printed); 2 an operator mistake (no database, no key, unreachable gateway).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gateway.settings import load_settings

audit = typer.Typer(help="The tamper-evident audit log", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="default GATEWAY_DATABASE_URL")
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


@audit.command("checkpoint")
def checkpoint_command(database_url: DatabaseUrl = None) -> None:
    """Sequence new events and sign a checkpoint now (also done on a schedule by the server)."""
    from gateway.audit.checkpoint import checkpoint
    from gateway.audit.errors import TamperDetected
    from gateway.audit.log import AuditLog
    from gateway.db.session import Database

    settings = load_settings().with_overrides(database_url=database_url)
    log = AuditLog.from_settings(settings)
    db = Database(settings.database_url, pool_size=1)
    try:
        assert log.signer is not None
        signed = checkpoint(db, log.signer)
    except TamperDetected as exc:
        raise _fail(f"refusing to sign: {exc}", 1) from None
    finally:
        db.dispose()
    state = "signed" if signed.created else "unchanged since the last checkpoint"
    typer.echo(f"checkpoint at size {signed.size} {state}:\n{signed.note}", nl=False)


@audit.command("verify")
def verify_command(
    database_url: DatabaseUrl = None,
    vkey: Annotated[
        str | None,
        typer.Option(help="the log's verifier key (or a file holding it); default: the key dir's"),
    ] = None,
    jobs: Annotated[int, typer.Option(help="worker processes reading the log")] = 1,
    deep: Annotated[
        bool, typer.Option("--deep", help="also check every searchable column against its event")
    ] = False,
) -> None:
    """Recompute every leaf and root, check every checkpoint; name the first bad index."""
    from gateway.audit.errors import BadNote
    from gateway.audit.keys import VKEY_FILE
    from gateway.audit.notes import NoteVerifier
    from gateway.audit.verify import verify_log
    from gateway.db.session import Database

    settings = load_settings().with_overrides(database_url=database_url)
    text = vkey
    if text is None:
        path = settings.key_dir / VKEY_FILE
        if not path.exists():
            raise _fail(f"no verifier key: pass --vkey or create one in {settings.key_dir}")
        text = path.read_text()
    elif Path(text).is_file():
        text = Path(text).read_text()
    try:
        verifier = NoteVerifier.from_vkey(text)
    except BadNote as exc:
        raise _fail(str(exc)) from None
    db = Database(settings.database_url, pool_size=2)
    try:
        report = verify_log(db, verifier, jobs=jobs, deep=deep)
    finally:
        db.dispose()
    typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(code=1)


@audit.command("witness")
def witness_command(
    url: Annotated[str, typer.Option(help="the gateway's base URL")],
    state: Annotated[Path, typer.Option(help="this witness's state file")],
    vkey: Annotated[
        str | None, typer.Option(help="the log's verifier key (required on the first run)")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="bearer token; default GATEWAY_AUDIT_TOKEN")
    ] = None,
) -> None:
    """Fetch the latest checkpoint and check it extends the last one this witness saw."""
    import httpx

    from gateway.audit.witness import ForkDetected, WitnessUnavailable, observe

    key = Path(vkey).read_text() if vkey and Path(vkey).is_file() else vkey
    with httpx.Client(timeout=30) as client:
        try:
            seen = observe(
                client,
                url,
                state,
                vkey=key,
                token=token or os.environ.get("GATEWAY_AUDIT_TOKEN"),
            )
        except ForkDetected as exc:
            raise _fail(f"FORK: {exc}", 1) from None
        except WitnessUnavailable as exc:
            raise _fail(str(exc)) from None
    if seen.grew:
        typer.echo(f"consistent: the log grew from {seen.previous} to {seen.size} entries")
    else:
        typer.echo(f"consistent: the log still has {seen.size} entries")


@audit.command("key")
def key_command() -> None:
    """Print the log's verifier key (give it to witnesses and the authority out of band)."""
    from gateway.audit.log import AuditLog

    log = AuditLog.from_settings(load_settings())
    assert log.signer is not None
    typer.echo(log.signer.verifier.vkey)


@audit.command("grants")
def grants_command(
    role: Annotated[str, typer.Option(help="the PostgreSQL role the gateway runs as")],
) -> None:
    """Print the PostgreSQL grants for a runtime role that cannot rewrite the audit log."""
    from gateway.audit.grants import grants_sql

    typer.echo(grants_sql(role))


def register(app: typer.Typer) -> None:
    """Attach ``gateway audit ...`` to the top-level command."""
    app.add_typer(audit, name="audit")
