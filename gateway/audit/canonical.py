"""Canonical bytes of an audit event: the JSON Canonicalization Scheme, RFC 8785 (JCS).

The Merkle leaf of every audit event is the JCS serialisation of a small envelope (see
:func:`leaf_bytes`), so anyone can recompute it from the event with any JCS implementation. JCS is
ECMAScript ``JSON.stringify`` output with object members sorted by their names as UTF-16 code units
(RFC 8785 §3.2.3), no insignificant whitespace (§3.2.1), strings escaped as ECMAScript does (§3.2.2.2:
only ``"``, ``\\`` and control characters, ``\\b \\f \\n \\r \\t`` in short form, the rest as
``\\u00xx`` in lower-case hex) and numbers in the ECMAScript shortest round-trip form (§3.2.2.3).

Because every control character is escaped, canonical bytes never contain a raw newline (0x0A):
``GET /audit/entries`` relies on that to serve one leaf per line.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES = {chr(c): f"\\u{c:04x}" for c in range(0x20)} | _SHORT
_NEEDS_ESCAPE = frozenset(_ESCAPES)
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
# I-JSON (RFC 7493 §2.2): integers outside ±(2**53 - 1) cannot be represented exactly.
_MAX_SAFE_INTEGER = 2**53 - 1


class NotCanonicalizable(ValueError):
    """The value has no JCS form (NaN, infinity, a non-string key, an unpaired surrogate...)."""


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value (dict, list, str, int, float, bool, None).

    Values without floats whose member names are ASCII (every AuditEvent) take orjson's sorted,
    compact output, which is byte-for-byte JCS for them: ASCII names sort the same by code point
    and by UTF-16 unit, and orjson escapes strings exactly as RFC 8785 §3.2.2.2 asks (tested
    against the general path below, which handles everything else).
    """
    if _plain(value):
        try:
            return orjson.dumps(value, option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError:
            pass  # the general path names the problem
    return _general(value)


def _plain(value: Any) -> bool:
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict:
            for key in item:
                if type(key) is not str or not key.isascii():
                    return False
            push(item.values())
        elif kind is list:
            push(item)
        elif kind is float or not (kind is str or kind is int or kind is bool or item is None):
            return False
    return True


def _general(value: Any) -> bytes:
    parts: list[str] = []
    _emit(value, parts)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError:
        raise NotCanonicalizable("strings must be valid Unicode (no unpaired surrogates)") from None


def _emit(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise NotCanonicalizable(f"integer {value} is outside the I-JSON range")
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            out.append(_string(key))
            out.append(":")
            _emit(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _emit(item, out)
        out.append("]")
    else:
        raise NotCanonicalizable(f"{type(value).__name__} is not a JSON value")


def _utf16_key(key: Any) -> bytes:
    if not isinstance(key, str):
        raise NotCanonicalizable("object member names must be strings")
    # RFC 8785 §3.2.3: sort by UTF-16 code units; big-endian UTF-16 bytes compare the same way.
    return key.encode("utf-16-be", "surrogatepass")


def _string(text: str) -> str:
    if not _NEEDS_ESCAPE.intersection(text):
        return f'"{text}"'
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def _number(value: float) -> str:
    """ECMAScript Number::toString (ECMA-262 §7.1.12.1), as RFC 8785 §3.2.2.3 requires."""
    if not math.isfinite(value):
        raise NotCanonicalizable("NaN and Infinity are not JSON numbers")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digits that round-trip, as ECMAScript does; rewrite them as
    # value = 0.<digits> x 10**n and lay them out by ECMAScript's rules.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    all_digits = whole + frac
    leading = len(all_digits) - len(all_digits.lstrip("0"))
    digits = all_digits.strip("0")
    point = len(whole) + int(exp_text or 0) - leading
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        exponent = n - 1
        head = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = f"{head}e{'+' if exponent > 0 else '-'}{abs(exponent)}"
    return sign + text


def leaf_bytes(event_bytes: bytes, index: int) -> bytes:
    """The Merkle leaf of the event at ``index``: the JCS form of ``{"event": E, "index": i}``.

    ``event`` sorts before ``index``, so the envelope is the canonical event bytes with a fixed
    prefix and a suffix naming the position; a verifier can check the position from the last bytes.
    """
    return b'{"event":' + event_bytes + b',"index":' + str(index).encode() + b"}"


def index_suffix(index: int) -> bytes:
    """The bytes every leaf at ``index`` ends with."""
    return b',"index":' + str(index).encode() + b"}"
