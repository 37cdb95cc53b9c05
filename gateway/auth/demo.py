"""Demo registrations for ``gateway demo``: agencies, one system client per agency (keys written to
``var/demo-keys/``) and one person per role. Everything is flagged ``demo`` so production refuses it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from joserfc.jwk import ECKey, RSAKey
from sqlalchemy.orm import Session

from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry

DEMO_PASSWORD = "demo-password-not-for-production"

# Agencies the demo data defines (gateway/demo.py) plus two facilities of its directory.
FACILITIES = (
    ("hifld-0079979106", "facility", "The Pavilion (Amarillo)"),
    ("hifld-0035779408", "facility", "Sunrise Canyon (Lubbock)"),
)
CLIENTS = (
    (
        "amarillo-pd-rms",
        "demo-amarillo-pd",
        "police_rms",
        "system/*.cruds",
        ["HLEGAL", "THREAT"],
        "RS384",
    ),
    (
        "panhandle-ehr",
        "demo-panhandle-regional",
        "hospital_ehr",
        "system/*.cruds",
        ["TREAT", "HOPERAT"],
        "ES384",
    ),
    (
        "tpc-case-system",
        "demo-tpc",
        "bha_system",
        "system/*.cruds",
        ["TREAT", "CAREMGT", "HOPERAT"],
        "RS384",
    ),
    (
        "pavilion-intake",
        "hifld-0079979106",
        "facility_system",
        "system/*.cruds",
        ["TREAT"],
        "RS384",
    ),
    ("sunrise-intake", "hifld-0035779408", "facility_system", "system/*.cruds", ["TREAT"], "RS384"),
    ("mcot-app", "demo-mcot", "crisis_team_system", "system/*.cruds", ["TREAT"], "ES384"),
)
USERS = (
    ("officer.diaz", "demo-amarillo-pd", "police_officer"),
    ("cit.officer.nguyen", "demo-amarillo-pd", "cit_officer"),
    ("clinician.okafor", "demo-mcot", "crisis_clinician"),
    ("ed.dr.patel", "demo-panhandle-regional", "ed_clinician"),
    ("casemgr.lopez", "demo-tpc", "bh_case_manager"),
    ("intake.pavilion", "hifld-0079979106", "facility_intake"),
    ("auditor.kim", "demo-tpc", "bha_auditor"),
    ("command.reyes", "demo-amarillo-pd", "program_reader"),  # the program dashboard only
    ("admin", "demo-tpc", "gateway_admin"),
)
CONSOLE_CLIENT = "web-console"


def _write_key(directory: Path, client_id: str, alg: str) -> dict[str, object]:
    path = directory / f"{client_id}.private.jwk.json"
    if path.exists():
        private = json.loads(path.read_text())
    else:
        kid = f"{client_id}-1"
        key = (
            RSAKey.generate_key(2048, parameters={"kid": kid, "alg": alg})
            if alg == "RS384"
            else ECKey.generate_key("P-384", parameters={"kid": kid, "alg": alg})
        )
        private = key.as_dict(private=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(private, handle, indent=2)
    public = {
        k: v
        for k, v in private.items()
        if k in ("kty", "kid", "alg", "n", "e", "crv", "x", "y", "use")
    }
    return {"keys": [public]}


def register_demo(session: Session, key_dir: Path, demo_keys: Path, base_url: str) -> list[str]:
    """Register the demo clients and users (idempotent; the demo's agencies must exist already) and
    two facilities as agencies; return lines for the console."""
    demo_keys.mkdir(parents=True, exist_ok=True)
    os.chmod(demo_keys, 0o700)
    registry = Registry(session)
    for agency_id, kind, name in FACILITIES:
        if registry.repo.agency(agency_id) is None:
            registry.add_agency(agency_id, kind, name, demo=True)
    for client_id, agency_id, role, scope, purposes, alg in CLIENTS:
        jwks = _write_key(demo_keys, client_id, alg)
        if registry.repo.client(client_id) is None:
            registry.add_client(
                client_id, agency_id, role, scope, jwks=jwks, purposes=purposes, demo=True
            )
    if registry.repo.client(CONSOLE_CLIENT) is None:
        registry.add_client(
            CONSOLE_CLIENT,
            "demo-tpc",
            "web_console",
            "user/*.cruds",
            public=True,
            redirect_uris=[f"{base_url.rstrip('/')}/console/callback"],
            demo=True,
        )
    for username, agency_id, role in USERS:
        if registry.repo.user(username) is None:
            registry.add_user(username, agency_id, role, DEMO_PASSWORD, demo=True)
    store = KeyStore(key_dir)
    store.load()
    store.mark_demo()
    lines = ["Demo agency systems (private keys in " + str(demo_keys) + "):"]
    for client_id, agency_id, role, _scope, purposes, alg in CLIENTS:
        lines.append(
            f"  {client_id:<20} {agency_id:<22} {role:<20} {alg}  purposes {','.join(purposes)}"
        )
    lines.append(f"Demo people (password for all: {DEMO_PASSWORD}):")
    for username, agency_id, role in USERS:
        lines.append(f"  {username:<20} {agency_id:<22} {role}")
    first = CLIENTS[1][0]
    lines.append("Get an access token as an agency system:")
    lines.append(
        f"  gateway token --client-id {first} --key {demo_keys / (first + '.private.jwk.json')} "
        f"--scope 'system/Patient.rs' --url {base_url.rstrip('/')}"
    )
    return lines
