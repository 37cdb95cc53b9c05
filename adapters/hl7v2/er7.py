"""ER7, the "pipe and hat" encoding of HL7 v2 messages (HL7 v2.5.1 §2.5-2.7).

A message is segments (one per line), a segment is fields split by the field separator (MSH-1), a
field is repetitions, a repetition is components, a component is subcomponents, each split by the
encoding characters in MSH-2. Text may carry escape sequences (§2.7) that stand for the separators
themselves, for line breaks or for bytes written in hex.

Splitting is lazy: a segment is split into fields when it is read, and a field is split further only
when a mapper asks for its parts. That keeps a large message with many unmapped segments cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.base import AdapterError, Location

SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
# FHIR strings may hold tab, CR and LF but no other control character (R4 datatypes.html#string).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
HL7_NULL = '""'


@dataclass(frozen=True, slots=True)
class Separators:
    """The delimiters of one message, read from MSH-1 and MSH-2 (HL7 v2.5.1 §2.5.4)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""


def read_separators(header: str) -> Separators:
    """Read MSH-1 (field separator) and MSH-2 (encoding characters) from an MSH, BHS or FHS line.

    HL7 v2.5.1 §2.14.9.1-2: MSH-2 holds component, repetition, escape and subcomponent characters
    in that order (v2.7 adds a fifth, the truncation character). They must all differ, and none may
    be a letter, a digit or white space.
    """
    name = header[:3]
    if len(header) < 4:
        raise AdapterError(
            f"{name} is too short to carry its separators",
            Location(segment=name, field=f"{name}-1"),
        )
    fs = header[3]
    if fs.isalnum() or fs.isspace():
        raise AdapterError(
            "the field separator must not be a letter, digit or space",
            Location(segment=name, field=f"{name}-1"),
        )
    end = header.find(fs, 4)
    encoding = header[4:] if end < 0 else header[4:end]
    where = Location(segment=name, field=f"{name}-2")
    if len(encoding) not in (4, 5):
        raise AdapterError(
            "the encoding characters must be 4 characters (5 from v2.7): component, repetition, "
            "escape, subcomponent",
            where,
        )
    if len(set(encoding + fs)) != len(encoding) + 1:
        raise AdapterError("the separators and encoding characters must all differ", where)
    if any(c.isalnum() or c.isspace() for c in encoding):
        raise AdapterError("an encoding character may not be a letter, digit or space", where)
    return Separators(fs, encoding[0], encoding[1], encoding[2], encoding[3], encoding[4:5])


class Codec:
    """Decodes the text of one message: its separators and the character set of its payload."""

    __slots__ = ("charset", "filler", "seps")

    def __init__(self, seps: Separators, charset: str = "utf-8") -> None:
        self.seps = seps
        self.charset = charset
        # Characters that carry no data on their own: a field of only these is empty.
        self.filler = f"{seps.component}{seps.repetition}{seps.subcomponent} "

    def unescape(self, text: str) -> str:
        """Replace escape sequences (HL7 v2.5.1 §2.7.1-2.7.6) with what they stand for.

        ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`` are the separators, ``\\P\\`` the truncation character,
        ``\\Xhh…\\`` bytes in the message's character set, ``\\.br\\``/``\\.sp\\``/``\\.ce\\`` line
        breaks; highlighting (``\\H\\``, ``\\N\\``) and fill mode are dropped. A sequence the adapter
        cannot honour (character-set switches ``\\C…\\``/``\\M…\\``, local ``\\Z…\\``, bad hex, an
        unterminated escape) is kept as written rather than guessed at.
        """
        esc = self.seps.escape
        if esc not in text:
            return text
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            j = text.find(esc, i)
            if j < 0:
                out.append(text[i:])
                break
            out.append(text[i:j])
            k = text.find(esc, j + 1)
            if k < 0:
                out.append(text[j:])
                break
            decoded = self._sequence(text[j + 1 : k])
            out.append(text[j : k + 1] if decoded is None else decoded)
            i = k + 1
        return "".join(out)

    def _sequence(self, seq: str) -> str | None:
        s = self.seps
        simple = {
            "F": s.field,
            "S": s.component,
            "T": s.subcomponent,
            "R": s.repetition,
            "E": s.escape,
            "H": "",
            "N": "",
        }
        if seq in simple:
            return simple[seq]
        if seq == "P":
            return s.truncation or None
        if seq.startswith("X") and len(seq) > 1:
            return self._hex(seq[1:])
        if seq.startswith("."):
            return _formatting(seq)
        return None

    def _hex(self, digits: str) -> str | None:
        try:
            text = bytes.fromhex(digits).decode(self.charset)
        except (ValueError, LookupError):
            return None
        return None if _CONTROL.search(text) else text


def _formatting(seq: str) -> str | None:
    """Formatted-text commands (HL7 v2.5.1 §2.7.6) reduced to plain text line breaks and spaces."""
    cmd, arg = seq[:3], seq[3:]
    count = 1
    if arg:
        if not re.fullmatch(r"[+-]?[0-9]{1,3}", arg):
            return None
        count = max(0, min(int(arg), 100))
    if cmd in (".br", ".ce"):
        return "\n"
    if cmd == ".sp":
        return "\n" * count
    if cmd == ".sk":
        return " " * count
    if cmd in (".in", ".ti", ".fi", ".nf"):
        return ""
    return None


def _blank(raw: str, codec: Codec) -> bool:
    """True when ``raw`` holds only separators, spaces or HL7 nulls (``""``)."""
    if not raw:
        return True
    rest = raw.strip(codec.filler)
    if '"' in rest:
        rest = rest.replace(HL7_NULL, "").strip(codec.filler)
    return not rest


class Rep:
    """One repetition of a field: components, each of subcomponents (1-based, as HL7 counts)."""

    __slots__ = ("_codec", "_parts")

    def __init__(self, parts: list[str], codec: Codec) -> None:
        self._parts = parts
        self._codec = codec

    @classmethod
    def of(cls, raw: str, codec: Codec) -> Rep:
        """A repetition from its raw (still escaped) text."""
        return cls(raw.split(codec.seps.component), codec)

    def c(self, i: int, s: int = 1) -> str:
        """Component ``i``, subcomponent ``s``: unescaped, trimmed, the HL7 null ``""`` read as empty."""
        if i > len(self._parts):
            return ""
        value = self._parts[i - 1]
        sub = self._codec.seps.subcomponent
        if sub in value:
            subs = value.split(sub)
            if s > len(subs):
                return ""
            value = subs[s - 1]
        elif s > 1:
            return ""
        if not value or value == HL7_NULL:
            return ""
        return self._codec.unescape(value).strip()

    def sub(self, i: int) -> Rep:
        """Component ``i`` read as a composite of its subcomponents (e.g. the HD inside CX.4)."""
        if i > len(self._parts):
            return Rep([], self._codec)
        return Rep(self._parts[i - 1].split(self._codec.seps.subcomponent), self._codec)

    def is_empty(self) -> bool:
        """Whether every component is empty (separators, spaces and HL7 nulls only)."""
        return all(_blank(part, self._codec) for part in self._parts)


class Segment:
    """One segment; remembers which fields a mapper read, so the rest can be reported unmapped."""

    __slots__ = ("_fields", "codec", "name", "occurrence", "position", "touched", "used")

    def __init__(
        self, line: str, codec: Codec, position: int, occurrence: int, is_header: bool = False
    ) -> None:
        fs = codec.seps.field
        self.name = line[:3]
        if is_header:
            # MSH-1 is the field separator itself, so MSH-n is the n-th element after the name.
            self._fields = [self.name, fs, *line[4:].split(fs)]
        else:
            self._fields = line.split(fs)
        self.codec = codec
        self.position = position
        self.occurrence = occurrence
        self.used: set[int] = set()
        self.touched = False

    @property
    def label(self) -> str:
        """``DG1`` for the first segment of its kind, ``DG1[2]`` for the second, and so on."""
        return self.name if self.occurrence == 1 else f"{self.name}[{self.occurrence}]"

    def raw(self, n: int) -> str:
        """Field ``n`` exactly as sent (escaped, unsplit); empty when the segment is shorter."""
        return self._fields[n] if 0 < n < len(self._fields) else ""

    def has(self, n: int) -> bool:
        """Whether field ``n`` holds anything (the HL7 null ``""`` counts as nothing)."""
        return not _blank(self.raw(n), self.codec)

    def _rep_texts(self, n: int) -> list[str]:
        self.touched = True
        self.used.add(n)
        raw = self.raw(n)
        codec = self.codec
        if codec.seps.repetition not in raw:
            return [] if _blank(raw, codec) else [raw]
        return [r for r in raw.split(codec.seps.repetition) if not _blank(r, codec)]

    def reps(self, n: int) -> list[Rep]:
        """The non-empty repetitions of field ``n``; marks the field as mapped."""
        return [Rep.of(r, self.codec) for r in self._rep_texts(n)]

    def rep(self, n: int) -> Rep | None:
        """The first non-empty repetition of field ``n``; marks the field as mapped."""
        texts = self._rep_texts(n)
        return Rep.of(texts[0], self.codec) if texts else None

    def text(self, n: int, c: int = 1, s: int = 1) -> str:
        """Component ``c`` (subcomponent ``s``) of the first repetition of field ``n``; marks it."""
        rep = self.rep(n)
        return rep.c(c, s) if rep else ""

    def mark(self, *ns: int) -> None:
        """Count fields as handled without reading them (set ids, values restated elsewhere)."""
        self.touched = True
        self.used.update(ns)

    def unmark(self, n: int) -> None:
        """Undo :meth:`reps` for a field whose value turned out not to be mappable."""
        self.used.discard(n)

    def unmapped(self) -> list[str]:
        """``PID-10``-style names of the fields that hold data no mapper took."""
        return [
            f"{self.name}-{n}"
            for n in range(1, len(self._fields))
            if n not in self.used and self.has(n)
        ]


@dataclass(slots=True)
class Message:
    """One HL7 v2 message (HL7 v2.5.1 §2.5), tokenised into segments."""

    index: int
    key: str
    seps: Separators
    segments: list[Segment]

    @property
    def msh(self) -> Segment:
        """The message header (HL7 v2.5.1 §2.14.9), always the first segment."""
        return self.segments[0]

    def all(self, name: str) -> list[Segment]:
        """Every ``name`` segment, in message order."""
        return [s for s in self.segments if s.name == name]

    def first(self, name: str) -> Segment | None:
        """The first ``name`` segment, if any."""
        for s in self.segments:
            if s.name == name:
                return s
        return None


def read_message(lines: list[str], index: int, charset: str) -> Message:
    """Tokenise the lines of one message (the first must be MSH); check its structure.

    Refuses, with the place named: bad separators (MSH-1/MSH-2), a line that is not a segment
    (HL7 v2.5.1 §2.5.2: three upper-case letters or digits, then the field separator), control
    characters, and a missing message type (MSH-9) or control id (MSH-10).
    """
    fallback = f"#{index + 1}"
    try:
        seps = read_separators(lines[0])
    except AdapterError as exc:
        raise AdapterError(exc.message, _at(exc.where, fallback)) from None
    codec = Codec(seps, charset)
    counts: dict[str, int] = {}
    segments: list[Segment] = []
    for position, line in enumerate(lines, start=1):
        name = line[:3]
        if not SEGMENT_ID.match(name) or (len(line) > 3 and line[3] != seps.field):
            raise AdapterError(
                f"line {position} of the message is not an HL7 segment (a 3-character segment id "
                "followed by the field separator)",
                Location(record=fallback, segment=f"line {position}"),
            )
        if _CONTROL.search(line):
            raise AdapterError(
                "the segment holds a control character, which HL7 text may not carry unescaped",
                Location(record=fallback, segment=name),
            )
        counts[name] = counts.get(name, 0) + 1
        segments.append(Segment(line, codec, position, counts[name], is_header=position == 1))
    msh = segments[0]
    key = msh.text(10)
    if not key:
        raise AdapterError(
            "MSH-10 (message control id) is required",
            Location(record=fallback, segment="MSH", field="MSH-10"),
        )
    if not msh.text(9, 1) or not msh.text(9, 2):
        raise AdapterError(
            "MSH-9 (message type) must name the message code and trigger event, e.g. ADT^A01",
            Location(record=key, segment="MSH", field="MSH-9"),
        )
    return Message(index=index, key=key, seps=seps, segments=segments)


def _at(where: Location, record: str) -> Location:
    return Location(record=record, segment=where.segment, field=where.field)
