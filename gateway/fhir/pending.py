"""Version and search-index rows held back until a reader needs them or the transaction commits.

A resource write adds one version row and a few index rows per search parameter. Sent as they come,
an HL7 ADT message costs some twenty statements; held in the session and sent as one ``INSERT``
per table, it costs six. The rows go out:

- before any statement on the session that does not carry the ``gw_index_free`` execution option
  (a search, a history read, a vread, an identity match: anything that might read them), and
- before the session commits.

So every reader inside the transaction sees what it would have seen had each row been written at
once. Savepoints (a batch Bundle runs each entry in one) are followed: rows queued inside a
savepoint that rolls back are dropped, and rows sent inside it are queued again, because the
database rolled them back too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Dialect, Table, TextClause, event, insert, text
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

INDEX_FREE = "gw_index_free"  # execution option: this statement reads no held-back row
FREE = {INDEX_FREE: True}
_STATE = "gw_pending_writes"


@dataclass(slots=True)
class _Mark:
    transaction: SessionTransaction
    queued: int
    sent: int


@dataclass(slots=True)
class PendingWrites:
    """The held-back rows of one session, plus what it knows of current rows in this transaction.

    ``rows`` holds (table, values) in write order; ``rows[:sent]`` are in the database already
    (kept only while a savepoint might undo them).
    """

    order: tuple[Table, ...]
    rows: list[tuple[Table, dict[str, Any]]] = field(default_factory=list)
    sent: int = 0
    marks: list[_Mark] = field(default_factory=list)
    ended: _Mark | None = None  # the savepoint that just ended, until its rollback is reported
    # (type, id) of resources known to exist and not be deleted in this transaction.
    live: set[tuple[str, str]] = field(default_factory=set)
    # Current rows read ahead and locked FOR UPDATE (None: known absent).
    locked: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.sent < len(self.rows)

    def add(self, table: Table, values: list[dict[str, Any]]) -> None:
        self.rows.extend((table, v) for v in values)

    def drop_index(self, session: Session, res_pk: int, tables: tuple[Table, ...]) -> None:
        """Forget unsent rows of ``res_pk`` in ``tables``: a newer version replaces them (the
        caller deletes those already sent). Inside a savepoint they are sent instead, so that a
        rollback of the savepoint brings them back with the DELETE undone."""
        if self.marks:
            self.send(session)
            return
        waiting = self.rows[self.sent :]
        if any(v["res_pk"] == res_pk and t in tables for t, v in waiting):
            kept = [(t, v) for t, v in waiting if not (v["res_pk"] == res_pk and t in tables)]
            self.rows[self.sent :] = kept

    def send(self, session: Session) -> None:
        """Send every unsent row: one statement per table, in ``order``. On PostgreSQL that is one
        ``INSERT ... SELECT FROM unnest(<one array per column>)`` (one round trip, and the same SQL
        text whatever the number of rows, so it is compiled once and prepared by the server); on
        SQLite, in process, an ``executemany``."""
        if not self:
            return
        by_table: dict[Table, list[dict[str, Any]]] = {}
        for table, values in self.rows[self.sent :]:
            by_table.setdefault(table, []).append(values)
        if self.marks:
            self.sent = len(self.rows)
        else:
            self.rows, self.sent = [], 0
        conn = session.connection()
        postgres = conn.dialect.name == "postgresql"
        for table in self.order:
            rows = by_table.get(table)
            if not rows:
                continue
            if postgres:
                columns = tuple(rows[0])
                statement = _unnest_insert(table, columns, conn.dialect)
                conn.execute(
                    statement, {f"c{i}": [r[c] for r in rows] for i, c in enumerate(columns)}
                )
            else:
                conn.execute(insert(table), rows)

    def forget(self) -> None:
        self.rows, self.sent, self.marks, self.ended = [], 0, [], None
        self.live.clear()
        self.locked.clear()


_UNNEST: dict[tuple[str, tuple[str, ...]], TextClause] = {}


def _unnest_insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> TextClause:
    """``INSERT INTO t (a, b) SELECT * FROM unnest(CAST(:c0 AS <a's type>[]), ...)``, cached."""
    key = (table.name, columns)
    statement = _UNNEST.get(key)
    if statement is None:
        arrays = ", ".join(
            f"CAST(:c{i} AS {table.c[name].type.compile(dialect=dialect)}[])"
            for i, name in enumerate(columns)
        )
        statement = text(
            f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
        )
        _UNNEST[key] = statement
    return statement


def pending(session: Session, order: tuple[Table, ...]) -> PendingWrites:
    """The session's :class:`PendingWrites`, created (and hooked to the session) on first use."""
    state = session.info.get(_STATE)
    if state is None:
        state = session.info[_STATE] = PendingWrites(order)
        event.listen(session, "do_orm_execute", _before_statement)
        event.listen(session, "before_commit", _before_commit)
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_transaction_create", _savepoint_begun)
        event.listen(session, "after_transaction_end", _savepoint_ended)
        event.listen(session, "after_soft_rollback", _rolled_back)
    return state  # type: ignore[no-any-return]


def _state(session: Session) -> PendingWrites | None:
    return session.info.get(_STATE)  # type: ignore[no-any-return]


def _before_statement(orm_state: ORMExecuteState) -> None:
    if orm_state.execution_options.get(INDEX_FREE):
        return
    state = _state(orm_state.session)
    if state:
        state.send(orm_state.session)


def _before_commit(session: Session) -> None:
    state = _state(session)
    if state:
        state.send(session)


def _after_commit(session: Session) -> None:
    state = _state(session)
    if state is not None:
        state.forget()


def _savepoint_begun(session: Session, transaction: SessionTransaction) -> None:
    state = _state(session)
    if state is not None and transaction.nested:
        state.marks.append(_Mark(transaction, len(state.rows), state.sent))


def _savepoint_ended(session: Session, transaction: SessionTransaction) -> None:
    # after_transaction_end comes before after_soft_rollback: keep the mark for _rolled_back.
    state = _state(session)
    if state is not None and state.marks and state.marks[-1].transaction is transaction:
        state.ended = state.marks.pop()


def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    state = _state(session)
    if state is None:
        return
    mark, state.ended = state.ended, None
    if not previous.nested or mark is None or mark.transaction is not previous:
        state.forget()
        return
    # Rows queued inside the savepoint are gone with it; rows sent inside it were undone.
    del state.rows[mark.queued :]
    state.sent = min(state.sent, mark.sent)
    state.live.clear()
    state.locked.clear()
