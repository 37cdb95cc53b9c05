"""``gateway policy check|matrix|explain``: let the people who govern sharing see exactly who can see
what, from the real engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from gateway.auth.repository import AuthRepository
from gateway.auth.roles import DEFAULT_PURPOSE
from gateway.auth.schemas import Caller
from gateway.db.session import Database
from gateway.fhir.repository import ResourceRepository
from gateway.settings import load_settings
from gateway.sharing.guard import SharingGuard
from policies import matrix
from policies.agreements import AgreementError, AgreementSet
from policies.engine import PolicyEngine, PolicyLoadError

policy = typer.Typer(help="Sharing policies and agreements", no_args_is_help=True)
Agreements = Annotated[
    Path | None,
    typer.Option(
        "--agreements",
        help="agreements file (default: GATEWAY_AGREEMENTS_FILE or the shipped example)",
    ),
]


def _agreements(path: Path | None) -> AgreementSet:
    chosen = path or load_settings().agreements_file
    return AgreementSet.load(chosen) if chosen else AgreementSet.load()


@policy.command("check")
def check(agreements: Agreements = None) -> None:
    """Parse and validate the Cedar policies against their schema, and the agreements file."""
    try:
        engine = PolicyEngine()
        loaded = _agreements(agreements)
    except (PolicyLoadError, AgreementError, OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"{len(engine.policies)} policies valid against the schema, every one with an @id")
    typer.echo(f"{len(loaded.agreements)} agreement versions loaded")


@policy.command("matrix")
def show_matrix(
    csv: Annotated[bool, typer.Option("--csv", help="CSV instead of a text table")] = False,
    role: Annotated[
        list[str] | None, typer.Option("--role", help="only these roles (repeatable)")
    ] = None,
) -> None:
    """Role x data class x purpose, with and without consent and agreement, decided by the engine."""
    roles = role or list(matrix.ROLES)
    unknown = sorted(set(roles) - set(matrix.ROLES))
    if unknown:
        typer.echo(f"error: unknown role(s) {', '.join(unknown)}", err=True)
        raise typer.Exit(code=2)
    found = list(matrix.rows(roles=roles))
    typer.echo(matrix.to_csv(found) if csv else matrix.to_text(found), nl=False)


@policy.command("explain")
def explain(
    resource: Annotated[str, typer.Option("--resource", help="Type/id of a stored resource")],
    client: Annotated[str | None, typer.Option("--client", help="a registered client id")] = None,
    user: Annotated[str | None, typer.Option("--user", help="a registered username")] = None,
    purpose: Annotated[
        str | None, typer.Option("--purpose", help="purpose of use, e.g. TREAT")
    ] = None,
    btg_reason: Annotated[
        str | None, typer.Option("--btg-reason", help="break-the-glass reason")
    ] = None,
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    agreements: Agreements = None,
) -> None:
    """Would this client or person be allowed to read this resource, and why."""
    if (client is None) == (user is None):
        typer.echo("error: give exactly one of --client or --user", err=True)
        raise typer.Exit(code=2)
    rtype, _, rid = resource.partition("/")
    settings = load_settings().with_overrides(database_url=database_url)
    db = Database(settings.database_url, pool_size=1)
    try:
        with db.unit_of_work() as session:
            repo = AuthRepository(session)
            if client is not None:
                row = repo.client(client)
                who = row and (row.agency_id, row.role, [p for p in row.purposes.split(",") if p])
            else:
                person = repo.user(user or "")
                who = person and (
                    person.agency_id,
                    person.role,
                    [DEFAULT_PURPOSE.get(person.role, "TREAT")],
                )
            if not who:
                typer.echo(f"error: {'client' if client else 'user'} is not registered", err=True)
                raise typer.Exit(code=2)
            agency, role, purposes = who
            if purpose:
                purposes = [purpose, *(["BTG"] if btg_reason else [])]
            caller = Caller(
                client_id=client or "console",
                agency=agency,
                role=role,
                user=user,
                purposes=tuple(purposes),
            )
            kind_row = repo.agency(agency)
            found = ResourceRepository(session).current_content(rtype, rid)
            if found is None or found[3] is None:
                typer.echo(f"error: {resource} is not stored", err=True)
                raise typer.Exit(code=2)
            guard = SharingGuard(
                session,
                caller,
                agency_kind=kind_row.kind if kind_row else None,
                agreements=_agreements(agreements),
                btg_reason=btg_reason,
            )
            decision = guard.decide("read", orjson.loads(found[3]))
    finally:
        db.dispose()
    typer.echo(
        f"decision:   {'ALLOW' if decision.allowed else 'DENY'}"
        + (f" ({decision.view} view)" if decision.allowed else "")
    )
    typer.echo(f"policies:   {', '.join(decision.policy_ids) or '-'}")
    typer.echo(f"agreements: {', '.join(decision.agreement_ids) or '-'}")
    typer.echo(f"consents:   {', '.join(decision.consents_consulted) or '-'}")
    if decision.refusal_codes:
        typer.echo(f"refrain:    {', '.join(decision.refusal_codes)}")
    for reason in decision.reasons:
        typer.echo(f"because:    {reason}")


def register(app: typer.Typer) -> None:
    """Attach ``gateway policy`` to the top-level command."""
    app.add_typer(policy, name="policy")
