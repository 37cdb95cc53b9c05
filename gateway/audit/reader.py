"""Streaming the stored leaves, in index order, as fast as the database can send them.

Verification reads every leaf of the log, so this bypasses the ORM: on PostgreSQL a binary
``COPY ... TO STDOUT`` through libpq (parsed here: a 19-byte header, then per row an int16 field
count and, per field, an int32 length (-1 for NULL) and the bytes; a field count of -1 ends the
stream), on SQLite a read-only ``sqlite3`` cursor. Both yield ``(index, event bytes, stored leaf
hash)`` for the sequenced entries of an index range, in index order.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator

from sqlalchemy.engine import make_url

Row = tuple[int, bytes, bytes | None]
_INT16 = struct.Struct(">h").unpack_from
# field count, idx length, idx, body length: the fixed 18-byte start of every row
_ROW_START = struct.Struct(">hiqi").unpack_from
_INT32 = struct.Struct(">i").unpack_from
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_SELECT = (
    "SELECT idx, body, leaf_hash FROM audit_leaf WHERE idx >= {start} AND idx < {end} ORDER BY idx"
)


def read_leaves(url: str, start: int, end: int) -> Iterator[Row]:
    """``(idx, body, leaf_hash)`` for indexes ``[start, end)`` in order (gaps are skipped)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        yield from _sqlite_rows(parsed.database or "", int(start), int(end))
    elif backend == "postgresql":
        conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        yield from _postgres_rows(conninfo, int(start), int(end))
    else:
        raise ValueError(f"no leaf reader for {backend}")


def _sqlite_rows(path: str, start: int, end: int) -> Iterator[Row]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = conn.execute(_SELECT.format(start=start, end=end))
        while True:
            rows = cursor.fetchmany(10_000)
            if not rows:
                return
            yield from rows
    finally:
        conn.close()


def _postgres_rows(conninfo: str, start: int, end: int) -> Iterator[Row]:
    import psycopg
    from psycopg import pq

    conn = psycopg.connect(conninfo, autocommit=True)
    try:
        conn.execute("SET jit = off")
        pgconn = conn.pgconn
        query = f"COPY ({_SELECT.format(start=start, end=end)}) TO STDOUT (FORMAT BINARY)"
        pgconn.send_query(query.encode())
        result = pgconn.get_result()
        if result is None or result.status != pq.ExecStatus.COPY_OUT:
            message = result.error_message.decode(errors="replace") if result else "no result"
            raise RuntimeError(f"cannot read the audit log: {message.strip()}")
        yield from _parse_copy(pgconn)
        while pgconn.get_result() is not None:
            pass
    finally:
        conn.close()


def _parse_copy(pgconn: object) -> Iterator[Row]:
    """Rows of the (int8, bytea, bytea) binary COPY stream. PostgreSQL sends one row per CopyData
    message, but rows split across or packed into messages are handled too."""
    get = pgconn.get_copy_data  # type: ignore[attr-defined]
    pending = b""
    header = True
    while True:
        nbytes, data = get(0)
        if nbytes <= 0:
            if nbytes == -2:
                raise RuntimeError("the audit log stream failed")
            return
        # Parse straight from libpq's buffer; copy only what is yielded (or a split row).
        chunk: bytes | memoryview = pending + bytes(data) if pending else data
        pos = 0
        if header:
            if len(chunk) < 19:
                pending = bytes(chunk)
                continue
            if bytes(chunk[:11]) != _COPY_SIGNATURE:
                raise RuntimeError("unexpected COPY stream header")
            pos = 19 + _INT32(chunk, 15)[0]
            header = False
        size = len(chunk)
        # field count (2) + idx length (4) + idx (8) + body length (4)
        while pos + 2 <= size:
            if _INT16(chunk, pos)[0] == -1:
                pos = size
                break
            if pos + 18 > size:
                break
            _fields, _idx_len, idx, body_len = _ROW_START(chunk, pos)
            body_end = pos + 18 + body_len
            if body_end + 4 > size:
                break
            hash_len = _INT32(chunk, body_end)[0]
            row_end = body_end + 4 + max(hash_len, 0)
            if row_end > size:
                break
            stored = bytes(chunk[body_end + 4 : row_end]) if hash_len >= 0 else None
            yield idx, bytes(chunk[pos + 18 : body_end]), stored
            pos = row_end
        pending = bytes(chunk[pos:])
