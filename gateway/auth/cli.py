"""``gateway agencies|clients|users|keys`` commands: manage the registry from a shell."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from gateway.audit.auth_trail import (
    Action,
    cli_context,
    record_change,
    record_refused_change,
)
from gateway.audit.errors import AuditUnavailable
from gateway.audit.log import AuditLog
from gateway.audit.security import ConfigChange
from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.fhir.errors import FhirError
from gateway.settings import load_settings

T = TypeVar("T")
agencies = typer.Typer(help="Agencies taking part in the exchange", no_args_is_help=True)
clients = typer.Typer(help="Agency systems (SMART Backend Services clients)", no_args_is_help=True)
users = typer.Typer(help="People who sign in to the console", no_args_is_help=True)
keys = typer.Typer(help="The gateway's own token-signing keys", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="default GATEWAY_DATABASE_URL")
]


Change = tuple[ConfigChange, str, Action, str | None]  # what, which one, C/U/D, detail


def _with_registry(
    database_url: str | None, fn: Callable[[Registry], T], change: Change | None = None
) -> T:
    """Run ``fn`` in one unit of work; a ``change`` is recorded in the audit log in the same one
    (no event, no change), and a refused change is recorded on its own."""
    settings = load_settings().with_overrides(database_url=database_url)
    db = Database(settings.database_url, pool_size=1)
    audit = AuditLog.from_settings(settings) if change is not None else None
    ctx = cli_context()
    try:
        with db.unit_of_work() as session:
            out = fn(Registry(session))
            if audit is not None and change is not None:
                kind, target, action, detail = change
                record_change(audit, session, ctx, kind, target, action, detail=detail)
            return out
    except FhirError as exc:
        if audit is not None and change is not None and not isinstance(exc, AuditUnavailable):
            kind, target, action, _ = change
            record_refused_change(
                audit, db, ctx, kind, target, action, status=exc.status, reason=exc.diagnostics
            )
        typer.echo(f"error: {exc.diagnostics}", err=True)
        raise typer.Exit(code=2) from None
    finally:
        db.dispose()


def _read_jwks(path: Path) -> Any:
    try:
        return path.read_text()
    except OSError as exc:
        typer.echo(f"error: cannot read {path}: {exc.strerror}", err=True)
        raise typer.Exit(code=2) from None


@agencies.command("add")
def agencies_add(
    id: Annotated[str, typer.Option("--id", help="short id, e.g. amarillo-pd")],
    kind: Annotated[str, typer.Option(help="police, hospital, bha, facility or crisis-team")],
    name: Annotated[str, typer.Option(help="display name")],
    database_url: DatabaseUrl = None,
) -> None:
    """Register an agency."""
    _with_registry(
        database_url, lambda r: r.add_agency(id, kind, name), ("agency", id, "C", f"kind {kind}")
    )
    typer.echo(f"agency {id} registered")


@agencies.command("list")
def agencies_list(database_url: DatabaseUrl = None) -> None:
    """List agencies."""
    for row in _with_registry(database_url, lambda r: list(r.repo.agencies())):
        typer.echo(f"{row.id}\t{row.kind}\t{row.name}")


@clients.command("add")
def clients_add(
    client_id: Annotated[str, typer.Option("--client-id")],
    agency: Annotated[str, typer.Option(help="agency id")],
    role: Annotated[str, typer.Option(help="e.g. hospital_ehr, police_rms, bha_system")],
    scope: Annotated[
        str, typer.Option(help='ceiling scopes, e.g. "system/Patient.rs system/Encounter.cruds"')
    ],
    jwks_file: Annotated[
        Path | None, typer.Option("--jwks-file", help="the client's public JWKS")
    ] = None,
    jwks_url: Annotated[
        str | None, typer.Option("--jwks-url", help="where the client publishes its JWKS")
    ] = None,
    purpose: Annotated[
        str,
        typer.Option(
            help="purposes of use it may assert, e.g. TREAT,HOPERAT (first is the default)"
        ),
    ] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Register an agency system with its public keys, ceiling scopes and purposes of use."""
    if (jwks_file is None) == (jwks_url is None):
        typer.echo("error: give exactly one of --jwks-file or --jwks-url", err=True)
        raise typer.Exit(code=2)
    jwks = _read_jwks(jwks_file) if jwks_file else None
    purposes = [p.strip() for p in purpose.split(",") if p.strip()]
    _with_registry(
        database_url,
        lambda r: r.add_client(
            client_id, agency, role, scope, jwks=jwks, jwks_url=jwks_url, purposes=purposes
        ),
        ("client", client_id, "C", f"agency {agency}, role {role}, scope {scope}"[:300]),
    )
    typer.echo(f"client {client_id} registered")


@clients.command("list")
def clients_list(database_url: DatabaseUrl = None) -> None:
    """List clients."""
    for row in _with_registry(database_url, lambda r: list(r.repo.clients())):
        state = "enabled" if row.enabled else "disabled"
        typer.echo(f"{row.client_id}\t{row.agency_id}\t{row.role}\t{state}\t{row.scope}")


@clients.command("set-keys")
def clients_set_keys(
    client_id: Annotated[str, typer.Option("--client-id")],
    jwks_file: Annotated[Path | None, typer.Option("--jwks-file")] = None,
    jwks_url: Annotated[str | None, typer.Option("--jwks-url")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Replace a client's public keys (key rotation)."""
    jwks = _read_jwks(jwks_file) if jwks_file else None
    _with_registry(
        database_url,
        lambda r: r.set_client_keys(client_id, jwks=jwks, jwks_url=jwks_url),
        ("client", client_id, "U", "keys replaced"),
    )
    typer.echo(f"client {client_id} keys replaced")


def _toggle_client(client_id: str, enabled: bool, database_url: str | None) -> None:
    state = "enabled" if enabled else "disabled"
    _with_registry(
        database_url,
        lambda r: r.set_client_enabled(client_id, enabled),
        ("client", client_id, "U", state),
    )
    typer.echo(f"client {client_id} {'enabled' if enabled else 'disabled'}")


@clients.command("disable")
def clients_disable(
    client_id: Annotated[str, typer.Option("--client-id")], database_url: DatabaseUrl = None
) -> None:
    """Stop a client from obtaining tokens."""
    _toggle_client(client_id, False, database_url)


@clients.command("enable")
def clients_enable(
    client_id: Annotated[str, typer.Option("--client-id")], database_url: DatabaseUrl = None
) -> None:
    """Allow a disabled client again."""
    _toggle_client(client_id, True, database_url)


def _read_password() -> str:
    if sys.stdin.isatty():
        return typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\n")


@users.command("add")
def users_add(
    username: Annotated[str, typer.Option("--username")],
    agency: Annotated[str, typer.Option(help="agency id")],
    role: Annotated[str, typer.Option(help="e.g. police_officer, crisis_clinician, bha_auditor")],
    database_url: DatabaseUrl = None,
) -> None:
    """Register a person; the password is read from standard input."""
    password = _read_password()
    _with_registry(
        database_url,
        lambda r: r.add_user(username, agency, role, password),
        ("user", username, "C", f"agency {agency}, role {role}"),
    )
    typer.echo(f"user {username} registered")


@users.command("list")
def users_list(database_url: DatabaseUrl = None) -> None:
    """List users."""
    for row in _with_registry(database_url, lambda r: list(r.repo.users())):
        typer.echo(
            f"{row.username}\t{row.agency_id}\t{row.role}\t{'enabled' if row.enabled else 'disabled'}"
        )


@users.command("set-password")
def users_set_password(
    username: Annotated[str, typer.Option("--username")], database_url: DatabaseUrl = None
) -> None:
    """Set a new password (read from standard input); clears any lockout."""
    password = _read_password()
    _with_registry(
        database_url,
        lambda r: r.set_password(username, password),
        ("user", username, "U", "password changed"),
    )
    typer.echo(f"password of {username} changed")


@users.command("disable")
def users_disable(
    username: Annotated[str, typer.Option("--username")], database_url: DatabaseUrl = None
) -> None:
    """Stop a person from signing in."""
    _with_registry(
        database_url,
        lambda r: r.set_user_enabled(username, False),
        ("user", username, "U", "disabled"),
    )
    typer.echo(f"user {username} disabled")


@users.command("enable")
def users_enable(
    username: Annotated[str, typer.Option("--username")], database_url: DatabaseUrl = None
) -> None:
    """Allow a disabled or locked-out person again."""
    _with_registry(
        database_url,
        lambda r: r.set_user_enabled(username, True),
        ("user", username, "U", "enabled"),
    )
    typer.echo(f"user {username} enabled")


@keys.command("rotate")
def keys_rotate(database_url: DatabaseUrl = None) -> None:
    """Start signing with a new key; the old one keeps verifying tokens already issued.

    The rotation is recorded in the audit log (DCM 110129); if it cannot be, the new key is
    withdrawn and the command fails."""
    settings = load_settings().with_overrides(database_url=database_url)
    store = KeyStore(settings.key_dir)
    store.load()
    db = Database(settings.database_url, pool_size=1)
    kid: str | None = None
    try:
        with db.unit_of_work() as session:
            kid = store.rotate()
            detail = "token-signing key rotated"
            record_change(
                AuditLog.from_settings(settings),
                session,
                cli_context(),
                "key",
                kid,
                "C",
                detail=detail,
            )
    except Exception as exc:  # no record, no rotation: withdraw the new key
        if kid is not None:
            for path in settings.key_dir.glob(f"*-{kid}.pem"):
                path.unlink(missing_ok=True)
        typer.echo(
            f"error: the rotation could not be recorded in the audit log ({type(exc).__name__}); "
            "the key was not rotated",
            err=True,
        )
        raise typer.Exit(code=1) from None
    finally:
        db.dispose()
    typer.echo(f"now signing with key {kid}")


@keys.command("list")
def keys_list() -> None:
    """List the signing keys (newest signs)."""
    store = KeyStore(load_settings().key_dir)
    store.load()
    for key in store.jwks()["keys"]:
        typer.echo(key["kid"])


def token(
    client_id: Annotated[str, typer.Option("--client-id")],
    key: Annotated[Path, typer.Option("--key", help="the client's private JWK (JSON)")],
    scope: Annotated[str, typer.Option(help="scopes to ask for")] = "system/*.rs",
    url: Annotated[str, typer.Option(help="the gateway's base URL")] = "http://127.0.0.1:8000",
    purpose: Annotated[
        str | None, typer.Option(help="purpose of use to assert, e.g. TREAT")
    ] = None,
) -> None:
    """Obtain an access token the way an agency system does (SMART Backend Services) and print it."""
    import json as _json
    import time as _time
    import uuid as _uuid

    import httpx
    from joserfc import jwt as _jwt
    from joserfc.jwk import ECKey, RSAKey

    try:
        private = _json.loads(key.read_text())
    except (OSError, ValueError) as exc:
        typer.echo(f"error: cannot read the key {key}: {exc}", err=True)
        raise typer.Exit(code=2) from None
    signer = ECKey.import_key(private) if private.get("kty") == "EC" else RSAKey.import_key(private)
    alg = "ES384" if private.get("kty") == "EC" else "RS384"
    config_url = f"{url.rstrip('/')}/fhir/.well-known/smart-configuration"
    try:
        token_url = httpx.get(config_url, timeout=10).json()["token_endpoint"]
        now = int(_time.time())
        claims: dict[str, Any] = {
            "iss": client_id,
            "sub": client_id,
            "aud": token_url,
            "exp": now + 240,
            "jti": str(_uuid.uuid4()),
        }
        if purpose:
            claims["extensions"] = {"hl7-b2b": {"purpose_of_use": [purpose]}}
        signed = _jwt.encode(
            {"alg": alg, "kid": private.get("kid"), "typ": "JWT"}, claims, signer, algorithms=[alg]
        )
        response = httpx.post(
            f"{url.rstrip('/')}/auth/token",
            data={
                "grant_type": "client_credentials",
                "scope": scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": signed,
            },
            timeout=10,
        )
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        typer.echo(f"error: cannot reach the gateway at {url}: {type(exc).__name__}", err=True)
        raise typer.Exit(code=2) from None
    body = response.json()
    if response.status_code != 200:
        typer.echo(f"error: {body.get('error')}: {body.get('error_description', '')}", err=True)
        raise typer.Exit(code=1)
    typer.echo(body["access_token"])


def register(app: typer.Typer) -> None:
    """Attach the registry commands to the top-level ``gateway`` command."""
    app.add_typer(agencies, name="agencies")
    app.add_typer(clients, name="clients")
    app.add_typer(users, name="users")
    app.add_typer(keys, name="keys")
    app.command("token")(token)
