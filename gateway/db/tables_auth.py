"""Registry tables: agencies, their system clients and people, and the state the token service keeps
in the database so that every replica sees it (used assertion ids, authorization codes, login sessions).
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Text
from sqlmodel import Field, SQLModel

from gateway.db.tables import _pk


class AgencyRow(SQLModel, table=True):
    __tablename__ = "auth_agency"

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=32)
    name: str = Field(max_length=200)
    demo: bool = False
    created_at: float


class ClientRow(SQLModel, table=True):
    """A registered system (SMART Backend Services) or the web console (public, PKCE)."""

    __tablename__ = "auth_client"

    client_id: str = Field(primary_key=True, max_length=128)
    agency_id: str = Field(
        sa_column=Column(String(64), ForeignKey("auth_agency.id"), nullable=False, index=True)
    )
    role: str = Field(max_length=64)
    scope: str = Field(sa_column=Column(Text, nullable=False))
    jwks: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    jwks_url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    purposes: str = Field(default="", sa_column=Column(Text, nullable=False))
    public: bool = False
    redirect_uris: str = Field(default="", sa_column=Column(Text, nullable=False))
    enabled: bool = True
    demo: bool = False
    created_at: float
    updated_at: float


class UserRow(SQLModel, table=True):
    """A person who signs in to the web console."""

    __tablename__ = "auth_user"

    username: str = Field(primary_key=True, max_length=128)
    agency_id: str = Field(
        sa_column=Column(String(64), ForeignKey("auth_agency.id"), nullable=False, index=True)
    )
    role: str = Field(max_length=64)
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    enabled: bool = True
    demo: bool = False
    failed_logins: int = 0
    locked_until: float = 0.0
    created_at: float
    password_changed_at: float


class UsedJtiRow(SQLModel, table=True):
    """Client assertion ids already seen: a replay across any replica is refused."""

    __tablename__ = "auth_used_jti"
    __table_args__ = (
        Index("ux_used_jti", "client_id", "jti", unique=True),
        Index("ix_used_jti_expires", "expires_at"),
    )

    pk: int | None = _pk()
    client_id: str = Field(max_length=128)
    jti: str = Field(max_length=256)
    expires_at: float


class AuthCodeRow(SQLModel, table=True):
    __tablename__ = "auth_code"

    code: str = Field(primary_key=True, max_length=128)
    client_id: str = Field(max_length=128)
    username: str = Field(max_length=128)
    redirect_uri: str = Field(sa_column=Column(Text, nullable=False))
    scope: str = Field(sa_column=Column(Text, nullable=False))
    code_challenge: str = Field(max_length=128)
    code_challenge_method: str = Field(max_length=16)
    expires_at: float


class LoginSessionRow(SQLModel, table=True):
    __tablename__ = "auth_login_session"

    id: str = Field(primary_key=True, max_length=128)
    username: str = Field(max_length=128, index=True)
    created_at: float
    last_seen: float
