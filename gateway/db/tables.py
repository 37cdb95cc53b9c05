"""Database tables: current resources, every version, and the search index tables.

Search parameters are extracted at write time into one table per parameter type (as HAPI FHIR does),
so a search is SQL over these tables and never re-reads resource JSON.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

# SQLite only auto-increments INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for large stores.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _pk() -> int | None:
    return Field(default=None, sa_column=Column(_BigId, primary_key=True, autoincrement=True))


def _res_fk() -> int:
    return Field(
        sa_column=Column(
            _BigId, ForeignKey("fhir_resource.pk", ondelete="CASCADE"), nullable=False, index=True
        )
    )


class ResourceRow(SQLModel, table=True):
    """The current version of one resource (also kept, marked deleted, after a delete)."""

    __tablename__ = "fhir_resource"
    __table_args__ = (
        Index("ux_resource_type_id", "rtype", "res_id", unique=True),
        Index("ix_resource_type_updated", "rtype", "last_updated"),
    )

    pk: int | None = _pk()
    rtype: str = Field(max_length=64)
    res_id: str = Field(max_length=64)
    version: int
    deleted: bool = False
    last_updated: float
    content: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ResourceVersionRow(SQLModel, table=True):
    """Every version ever written, for vread and history."""

    __tablename__ = "fhir_resource_version"
    __table_args__ = (
        Index("ux_version_type_id_version", "rtype", "res_id", "version", unique=True),
        Index("ix_version_type_updated", "rtype", "last_updated"),
        Index("ix_version_updated", "last_updated"),
    )

    pk: int | None = _pk()
    res_pk: int = _res_fk()
    rtype: str = Field(max_length=64)
    res_id: str = Field(max_length=64)
    version: int
    method: str = Field(max_length=8)
    deleted: bool = False
    last_updated: float
    content: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class TokenIndex(SQLModel, table=True):
    """token and uri parameters: ``system|code``."""

    __tablename__ = "idx_token"
    __table_args__ = (Index("ix_token_lookup", "rtype", "param", "code", "system"),)

    pk: int | None = _pk()
    res_pk: int = _res_fk()
    rtype: str = Field(max_length=64)
    param: str = Field(max_length=64)
    system: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    code: str = Field(sa_column=Column(Text, nullable=False))


class StringIndex(SQLModel, table=True):
    """string parameters: ``norm`` is lower-cased and accent-free (default and :contains), ``exact`` as sent."""

    __tablename__ = "idx_string"
    __table_args__ = (
        Index(
            "ix_string_lookup",
            "rtype",
            "param",
            "norm",
            postgresql_ops={"norm": "text_pattern_ops"},
        ),
    )

    pk: int | None = _pk()
    res_pk: int = _res_fk()
    rtype: str = Field(max_length=64)
    param: str = Field(max_length=64)
    norm: str = Field(sa_column=Column(Text, nullable=False))
    exact: str = Field(sa_column=Column(Text, nullable=False))


class DateIndex(SQLModel, table=True):
    """date parameters as a closed range of epoch seconds (a date's precision becomes its range)."""

    __tablename__ = "idx_date"
    __table_args__ = (Index("ix_date_lookup", "rtype", "param", "low", "high"),)

    pk: int | None = _pk()
    res_pk: int = _res_fk()
    rtype: str = Field(max_length=64)
    param: str = Field(max_length=64)
    low: float = Field(sa_column=Column(Float, nullable=False))
    high: float = Field(sa_column=Column(Float, nullable=False))


class ReferenceIndex(SQLModel, table=True):
    """reference parameters: local targets as type + id, anything else as its URL."""

    __tablename__ = "idx_reference"
    __table_args__ = (
        Index("ix_reference_target", "target_type", "target_id", "param"),
        Index("ix_reference_source", "rtype", "param", "target_id"),
    )

    pk: int | None = _pk()
    res_pk: int = _res_fk()
    rtype: str = Field(max_length=64)
    param: str = Field(max_length=64)
    target_type: str | None = Field(default=None, max_length=64)
    target_id: str | None = Field(default=None, max_length=64)
    url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class QuantityIndex(SQLModel, table=True):
    """quantity and number parameters."""

    __tablename__ = "idx_quantity"
    __table_args__ = (Index("ix_quantity_lookup", "rtype", "param", "value"),)

    pk: int | None = _pk()
    res_pk: int = _res_fk()
    rtype: str = Field(max_length=64)
    param: str = Field(max_length=64)
    value: float = Field(sa_column=Column(Float, nullable=False))
    system: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    code: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class PositionIndex(SQLModel, table=True):
    """Location.position, for ``near``."""

    __tablename__ = "idx_position"
    __table_args__ = (Index("ix_position_lookup", "rtype", "lat", "lon"),)

    pk: int | None = _pk()
    res_pk: int = _res_fk()
    rtype: str = Field(max_length=64)
    lat: float
    lon: float


INDEX_TABLES = (TokenIndex, StringIndex, DateIndex, ReferenceIndex, QuantityIndex, PositionIndex)
