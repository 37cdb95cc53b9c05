"""The gateway's signing keys: generated on first start, private files, rotation keeps tokens valid,
and production refuses demo keys and demo registrations."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import UnsafeProductionSettings, create_app
from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.settings import Settings
from tests.conftest import bearer


def test_first_start_generates_a_private_key_file(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    store.load()
    files = list((tmp_path / "keys").glob("*.pem"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    again = KeyStore(tmp_path / "keys")
    again.load()
    assert again.current.kid == store.current.kid


def test_rotation_keeps_tokens_in_flight_valid(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    keys = KeyStore(tmp_path / "rotating")
    app = create_app(
        settings.with_overrides(key_dir=tmp_path / "rotating"),
        db=db,
        keys=keys,
        sharing_rules=False,
    )
    with TestClient(app) as client:
        old_token = bearer(app)
        old_kid = keys.current.kid
        new_kid = keys.rotate()
        assert new_kid != old_kid
        kids = {k["kid"] for k in client.get("/auth/jwks").json()["keys"]}
        assert kids == {old_kid, new_kid}
        assert client.get("/fhir/Patient", headers=old_token).status_code == 200
        new_token = bearer(app)
        assert client.get("/fhir/Patient", headers=new_token).status_code == 200


def test_another_replica_rotating_is_picked_up(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    directory = tmp_path / "shared"
    first = KeyStore(directory)
    app = create_app(
        settings.with_overrides(key_dir=directory), db=db, keys=first, sharing_rules=False
    )
    other_replica = KeyStore(directory)
    other_replica.load()
    other_replica.rotate()
    other_app = create_app(settings.with_overrides(key_dir=directory), db=db, keys=other_replica)
    with TestClient(app) as client:
        token = bearer(other_app)  # signed with a key this replica has not loaded yet
        assert client.get("/fhir/Patient", headers=token).status_code == 200


def test_production_refuses_demo_keys_and_demo_users(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    production = settings.with_overrides(
        env="production", base_url="https://gateway.example", key_dir=tmp_path / "prod"
    )
    keys = KeyStore(tmp_path / "prod")
    keys.load()
    create_app(production, db=db, keys=keys)  # clean: starts

    keys.mark_demo()
    with pytest.raises(UnsafeProductionSettings, match="demo keys"):
        create_app(production, db=db, keys=keys)

    clean_keys = KeyStore(tmp_path / "prod2")
    clean_keys.load()
    with db.unit_of_work() as session:
        registry = Registry(session)
        registry.add_agency("demo-pd", "police", "Demo PD", demo=True)
        registry.add_user("demo.officer", "demo-pd", "police_officer", "demo-password-1", demo=True)
    with pytest.raises(UnsafeProductionSettings, match="demo registrations"):
        create_app(production.with_overrides(key_dir=tmp_path / "prod2"), db=db, keys=clean_keys)


def test_production_requires_https(db: Database, settings: Settings, tmp_path: Path) -> None:
    production = settings.with_overrides(
        env="production", base_url="http://gateway.example", key_dir=tmp_path / "k"
    )
    with pytest.raises(UnsafeProductionSettings, match="https"):
        create_app(production, db=db, keys=KeyStore(tmp_path / "k"))
