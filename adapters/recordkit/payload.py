"""Decoding source payloads (RFC 8259 JSON, RFC 4180 CSV) into Python values.

Every refusal is an :class:`~adapters.base.AdapterError` that says what is wrong and where, never what
the input contained: a payload may be full of patient data.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

from adapters.base import AdapterError, Location

MAX_PAYLOAD_BYTES = 32 * 1024 * 1024
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def media_type_of(media_type: str) -> str:
    """The bare media type (RFC 9110 §8.3.1): parameters such as ``charset`` dropped, lower case."""
    return media_type.split(";", 1)[0].strip().lower()


def safe_name(name: object) -> str | None:
    """``name`` if it is a plain, short token that may appear in an error message, else ``None``."""
    return name if isinstance(name, str) and _SAFE_NAME.match(name) else None


def decode_text(payload: bytes) -> str:
    """UTF-8 text (a leading byte-order mark is allowed); refuse empty, oversized or undecodable input."""
    if not payload or not payload.strip():
        raise AdapterError("the payload is empty")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise AdapterError(f"the payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AdapterError(
            f"the payload is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(payload: bytes) -> Any:
    """Parse RFC 8259 JSON; ``NaN``/``Infinity`` and absurdly deep nesting are refused."""
    text = decode_text(payload)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise AdapterError(
            f"the payload is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise AdapterError("the payload is nested too deeply to be a record") from None
    except ValueError:
        # int() digit limits and refused constants: the message may carry input, so it is dropped.
        raise AdapterError("the payload holds a number that cannot be read") from None


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One CSV data row: its 1-based line number in the payload and its non-empty cells by column."""

    line: int
    cells: dict[str, str]


def read_csv(payload: bytes, *, known: frozenset[str], required: tuple[str, ...]) -> list[CsvRow]:
    """Read an RFC 4180 CSV with a header row; refuse unknown or missing columns and ragged rows.

    Empty cells are dropped, so a row's ``cells`` hold only what the sender filled in.
    """
    text = decode_text(payload)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except (csv.Error, StopIteration):
        raise AdapterError("the CSV header row cannot be read", Location(field="header")) from None
    header = [h.strip() for h in header]
    for i, name in enumerate(header):
        if name not in known:
            shown = safe_name(name)
            label = f"unknown column {shown!r}" if shown else f"unknown column {i + 1}"
            raise AdapterError(label, Location(field="header"))
    if len(set(header)) != len(header):
        raise AdapterError("a column is named twice", Location(field="header"))
    missing = [c for c in required if c not in header]
    if missing:
        raise AdapterError(
            f"required column(s) missing: {', '.join(missing)}", Location(field="header")
        )
    rows: list[CsvRow] = []
    start = reader.line_num + 1
    try:
        for values in reader:
            # A quoted cell may span lines: a row is named by the line it starts on.
            line, start = start, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise AdapterError(
                    f"the row has {len(values)} cells but the header has {len(header)}",
                    Location(record=f"line {line}"),
                )
            cells = {h: v.strip() for h, v in zip(header, values, strict=True) if v.strip()}
            rows.append(CsvRow(line, cells))
    except csv.Error:
        raise AdapterError(
            "the CSV cannot be read (unbalanced quotes?)",
            Location(record=f"line {reader.line_num}"),
        ) from None
    if not rows:
        raise AdapterError("the CSV has a header but no data rows")
    return rows


_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})


def csv_bool(text: str) -> bool | None:
    """A CSV yes/no cell as a boolean, or ``None`` when it is neither."""
    low = text.lower()
    return True if low in _TRUE else False if low in _FALSE else None


def csv_number(text: str) -> float | None:
    """A CSV decimal cell as a float, or ``None`` when it is not a finite decimal."""
    if not re.fullmatch(r"-?\d{1,12}(\.\d{1,12})?", text):
        return None
    return float(text)
