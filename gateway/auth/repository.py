"""SQL for the registry and the token service's shared state."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.db.tables_auth import (
    AgencyRow,
    AuthCodeRow,
    ClientRow,
    LoginSessionRow,
    UsedJtiRow,
    UserRow,
)


class AuthRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # agencies, clients, users
    def agency(self, agency_id: str) -> AgencyRow | None:
        return self.session.get(AgencyRow, agency_id)

    def agencies(self) -> Sequence[AgencyRow]:
        return self.session.execute(select(AgencyRow).order_by(AgencyRow.id)).scalars().all()

    def client(self, client_id: str) -> ClientRow | None:
        return self.session.get(ClientRow, client_id)

    def clients(self) -> Sequence[ClientRow]:
        return self.session.execute(select(ClientRow).order_by(ClientRow.client_id)).scalars().all()

    def user(self, username: str) -> UserRow | None:
        return self.session.get(UserRow, username)

    def users(self) -> Sequence[UserRow]:
        return self.session.execute(select(UserRow).order_by(UserRow.username)).scalars().all()

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    def demo_entries(self) -> list[str]:
        """Names of registrations made by ``gateway demo`` (refused in production)."""
        names = [
            f"client {c}"
            for c in self.session.execute(
                select(ClientRow.client_id).where(ClientRow.demo.is_(True))
            ).scalars()
        ]
        names += [
            f"user {u}"
            for u in self.session.execute(
                select(UserRow.username).where(UserRow.demo.is_(True))
            ).scalars()
        ]
        return names

    # assertion replay
    def remember_jti(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        """Record a client assertion id; False if it was seen before (on any replica)."""
        self.session.execute(delete(UsedJtiRow).where(UsedJtiRow.expires_at < now - 600))
        nested = self.session.begin_nested()
        try:
            self.session.add(UsedJtiRow(client_id=client_id, jti=jti, expires_at=expires_at))
            self.session.flush()
        except IntegrityError:
            nested.rollback()
            return False
        nested.commit()
        return True

    # authorization codes
    def save_code(self, row: AuthCodeRow) -> None:
        self.session.add(row)
        self.session.flush()

    def take_code(self, code: str, client_id: str, now: float) -> AuthCodeRow | None:
        """Fetch and delete a code in one go, so it can be used once only."""
        row = self.session.execute(
            select(AuthCodeRow).where(AuthCodeRow.code == code).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            return None
        self.session.delete(row)
        self.session.flush()
        if row.client_id != client_id or row.expires_at < now:
            return None
        return row

    # login sessions
    def session_row(self, session_id: str) -> LoginSessionRow | None:
        return self.session.get(LoginSessionRow, session_id)

    def touch_session(self, session_id: str, now: float) -> None:
        self.session.execute(
            update(LoginSessionRow).where(LoginSessionRow.id == session_id).values(last_seen=now)
        )

    def drop_session(self, session_id: str) -> None:
        self.session.execute(delete(LoginSessionRow).where(LoginSessionRow.id == session_id))
