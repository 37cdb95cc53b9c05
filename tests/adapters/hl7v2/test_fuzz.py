"""Property-based: real messages, mutated (segments dropped, duplicated, shuffled; truncated;
separators injected), give a valid conversion or a clean AdapterError, never anything else."""

from __future__ import annotations

import contextlib
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError
from tests.adapters.hl7v2.support import FIXTURES, assert_valid_r4, convert, resources

SAMPLES = [
    p.read_bytes().decode("utf-8-sig")
    for p in sorted(FIXTURES.glob("*.hl7"))
    if p.name != "ORU-R01-RMGEAD.hl7"
]
NOISE = '|^~\\&\r\n"#MSH PID\x0b\x1c'


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(SAMPLES))
    segments = [s for s in re.split(r"\r\n|\r|\n", text) if s]
    for _ in range(draw(st.integers(0, 4))):
        if not segments:
            break
        i = draw(st.integers(0, len(segments) - 1))
        op = draw(st.sampled_from(["drop", "duplicate", "swap", "inject", "truncate", "blank"]))
        if op == "drop":
            del segments[i]
        elif op == "duplicate":
            segments.insert(i, segments[i])
        elif op == "swap":
            j = draw(st.integers(0, len(segments) - 1))
            segments[i], segments[j] = segments[j], segments[i]
        elif op == "inject":
            seg = segments[i]
            at = draw(st.integers(0, len(seg)))
            junk = draw(st.text(alphabet=NOISE, min_size=1, max_size=4))
            segments[i] = seg[:at] + junk + seg[at:]
        elif op == "truncate":
            segments[i] = segments[i][: draw(st.integers(0, len(segments[i])))]
        else:
            fields = segments[i].split("|")
            k = draw(st.integers(0, len(fields) - 1))
            fields[k] = draw(st.sampled_from(["", '""', "^^^", "~", "X" * 3]))
            segments[i] = "|".join(fields)
    payload = "\r".join(segments)
    if draw(st.booleans()):
        payload = payload[: draw(st.integers(0, len(payload)))]
    return payload.encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=mutated())
def test_mutated_messages_convert_validly_or_are_refused_cleanly(payload: bytes) -> None:
    with contextlib.suppress(AdapterError):
        for conversion in convert(payload):
            for resource in resources(conversion):
                assert_valid_r4(resource)


FIELD = st.text(alphabet='AZaz09 .-+^&~\\"#XE/:', max_size=30)
DATE = st.sampled_from(["", "1980", "19800214", "198002141230", "19800214123000.5-0500"]) | FIELD
TEMPLATE = (
    "MSH|^~\\&|APP|FAC|||{msh7}||ADT^{event}|K1|P|2.5\r"
    "PID|1||{pid3}||{pid5}||{pid7}|{pid8}|||{pid11}||{pid13}\r"
    "PV1|1|{pv1_2}|{pv1_3}||||{pv1_7}||||||||||||{pv1_19}|||||||||||||||||||||||||{pv1_44}|{pv1_45}\r"
    "DG1|1||{dg1_3}||{dg1_5}|{dg1_6}\r"
    "AL1|1|{al1_2}|{al1_3}|{al1_4}|{al1_5}\r"
    "IN1|1|{in1_2}|{in1_3}|{in1_4}\r"
    "MRG|{mrg1}\r"
)


@settings(max_examples=300, deadline=None)
@given(
    fields=st.fixed_dictionaries(
        {
            "msh7": st.sampled_from(["20240301101500+0100", "2024", "202403011015", "2024030110"]),
            **{name: DATE for name in ("pid7", "pv1_44", "pv1_45", "dg1_5")},
            "event": st.sampled_from(
                ["A01", "A03", "A04", "A08", "A11", "A13", "A28", "A40", "A47"]
            ),
            **{
                name: FIELD
                for name in [
                    "pid3",
                    "pid5",
                    "pid8",
                    "pid11",
                    "pid13",
                    "pv1_2",
                    "pv1_3",
                    "pv1_7",
                    "pv1_19",
                    "dg1_3",
                    "dg1_6",
                    "al1_2",
                    "al1_3",
                    "al1_4",
                    "al1_5",
                    "in1_2",
                    "in1_3",
                    "in1_4",
                    "mrg1",
                ]
            },
        }
    )
)
def test_arbitrary_field_contents_convert_validly_or_are_refused_cleanly(
    fields: dict[str, str],
) -> None:
    payload = TEMPLATE.format(**fields).encode()
    with contextlib.suppress(AdapterError):
        for conversion in convert(payload):
            for resource in resources(conversion):
                assert_valid_r4(resource)
