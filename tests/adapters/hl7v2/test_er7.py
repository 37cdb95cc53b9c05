"""Reading ER7: separators from MSH-1/MSH-2, escape sequences, line endings, batches, character sets,
and refusals that say where the problem is without quoting the data."""

from __future__ import annotations

import pytest

from adapters.base import AdapterError, UnsupportedMessage
from tests.adapters.hl7v2.support import (
    ADAPTER,
    AGENCY,
    ER7,
    MSH,
    PV1,
    adt,
    convert,
    message,
    one,
    resources,
    single,
)


def test_segments_may_end_with_cr_lf_or_crlf() -> None:
    text = adt()
    bundles = [one(text.replace("\r", sep)).bundle for sep in ("\r", "\n", "\r\n")]
    assert bundles[0] == bundles[1] == bundles[2]


def test_byte_order_mark_and_mllp_framing_are_ignored() -> None:
    plain = one(adt()).bundle
    assert one(b"\xef\xbb\xbf" + adt().encode()).bundle == plain
    assert one(b"\x0b" + adt().encode() + b"\x1c\r").bundle == plain


def test_custom_separators_from_msh_1_and_msh_2_are_honoured() -> None:
    table = str.maketrans({"|": "#", "^": "*", "~": "%", "\\": "$", "&": "@"})
    custom = adt().translate(table)
    assert custom.startswith("MSH#*%$@#")
    standard, other = one(adt()), one(custom)
    assert single(other, "Patient") == single(standard, "Patient")
    assert single(other, "Encounter") == single(standard, "Encounter")


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("O\\F\\BRIEN", "O|BRIEN"),
        ("SMITH\\S\\JONES", "SMITH^JONES"),
        ("A\\T\\E", "A&E"),
        ("ONE\\R\\TWO", "ONE~TWO"),
        ("BACK\\E\\SLASH", "BACK\\SLASH"),
        ("\\X4D\\ILLER", "MILLER"),
        ("M\\XC3BC\\LLER", "MüLLER"),
        ("LINE\\.br\\BREAK", "LINE\nBREAK"),
        ("\\H\\BOLD\\N\\", "BOLD"),
        ("KEEP\\Zlocal\\", "KEEP\\Zlocal\\"),
        ("OPEN\\END", "OPEN\\END"),
    ],
)
def test_escape_sequences_decode(raw: str, decoded: str) -> None:
    pid = f"PID|1||P1^^^GHH^MR||{raw}^ANN||19800101|F"
    patient = single(one(adt(pid=pid)), "Patient")
    assert patient["name"][0]["family"] == decoded


def test_escaped_separators_do_not_split_fields() -> None:
    pid = "PID|1||P1^^^GHH^MR||DOE^ANN||19800101|F|||1 A\\F\\B ST\\S\\REAR^^TOWN"
    patient = single(one(adt(pid=pid)), "Patient")
    assert patient["address"][0]["line"] == ["1 A|B ST^REAR"]
    assert patient["address"][0]["city"] == "TOWN"


def test_back_to_back_messages_become_one_record_each() -> None:
    records = ADAPTER.parse((adt("A01", "K1") + adt("A08", "K2")).encode(), ER7)
    assert [r.key for r in records] == ["K1", "K2"]
    assert [r.index for r in records] == [0, 1]


def test_batch_and_file_envelopes_are_taken_off() -> None:
    payload = (
        "FHS|^~\\&|ADT1\rBHS|^~\\&|ADT1\r" + adt("A01", "K1") + adt("A04", "K2") + "BTS|2\rFTS|1\r"
    )
    assert [c.record_key for c in convert(payload)] == ["K1", "K2"]


def test_a_batch_trailer_that_miscounts_is_refused() -> None:
    payload = "BHS|^~\\&\r" + adt("A01", "K1") + "BTS|2\r"
    with pytest.raises(AdapterError) as caught:
        ADAPTER.parse(payload.encode(), ER7)
    assert caught.value.where.field == "BTS-1"


def test_one_bad_message_does_not_sink_the_rest_of_the_batch() -> None:
    bad = adt("A01", "BAD", pid="PID|1||P1^^^GHH^MR||DOE^ANN||19801340|F")
    records = ADAPTER.parse((bad + adt("A01", "GOOD")).encode(), ER7)
    with pytest.raises(AdapterError):
        ADAPTER.to_fhir(records[0], AGENCY)
    assert ADAPTER.to_fhir(records[1], AGENCY).record_key == "GOOD"


def test_a_message_without_control_id_is_keyed_by_its_place_in_the_payload() -> None:
    bad = message("MSH|^~\\&|A|B|||20240101||ADT^A01||P|2.5", "PID|1||1^^^X^MR")
    records = ADAPTER.parse((adt("A01", "K1") + bad).encode(), ER7)
    assert [r.key for r in records] == ["K1", "#2"]
    with pytest.raises(AdapterError) as caught:
        ADAPTER.to_fhir(records[1], AGENCY)
    assert (caught.value.where.record, caught.value.where.field) == ("#2", "MSH-10")


@pytest.mark.parametrize(
    "header",
    [
        "MSH|^~\\|A",  # three encoding characters
        "MSH|^^\\&|A",  # a repeated one
        "MSH|^~A&|A",  # a letter
        "MSH|^~|&|A",  # the field separator among them
    ],
)
def test_bad_encoding_characters_are_refused_at_msh_2(header: str) -> None:
    records = ADAPTER.parse(message(header, "PID|1||1^^^X^MR").encode(), ER7)
    with pytest.raises(AdapterError) as caught:
        ADAPTER.to_fhir(records[0], AGENCY)
    assert caught.value.where.field == "MSH-2"


def test_a_line_that_is_not_a_segment_is_refused_with_its_line_number() -> None:
    with pytest.raises(AdapterError) as caught:
        convert(adt() + "this is not a segment\r")
    assert caught.value.where.segment == "line 5"


def test_control_characters_are_refused() -> None:
    with pytest.raises(AdapterError) as caught:
        convert(adt(pid="PID|1||P1^^^GHH^MR||DOE\x07^ANN||19800101|F"))
    assert caught.value.where.segment == "PID"


def test_segments_before_the_first_msh_are_refused() -> None:
    with pytest.raises(AdapterError) as caught:
        ADAPTER.parse(b"EVN|A01\r" + adt().encode(), ER7)
    assert caught.value.where.segment == "line 1"


def test_a_payload_in_the_character_set_msh_18_names_is_decoded() -> None:
    head = MSH.format(type="ADT^A01", key="L1") + "||||||8859/1"
    pid = "PID|1||P1^^^GHH^MR||MÜLLER^JÖRG||19800101|M"
    payload = message(head, pid, PV1).encode("latin-1")
    patient = single(one(payload), "Patient")
    assert patient["name"][0] == {"family": "MÜLLER", "given": ["JÖRG"]}


def test_a_charset_parameter_on_the_media_type_is_honoured() -> None:
    payload = adt(pid="PID|1||P1^^^GHH^MR||MÜLLER^J||19800101|M").encode("latin-1")
    records = ADAPTER.parse(payload, "text/plain; charset=iso-8859-1")
    patient = single(ADAPTER.to_fhir(records[0], AGENCY), "Patient")
    assert patient["name"][0]["family"] == "MÜLLER"


def test_refusals_name_the_place_but_never_quote_the_value() -> None:
    secret = "19871345"
    with pytest.raises(AdapterError) as caught:
        convert(adt("A01", "K9", pid=f"PID|1||SECRETID^^^GHH^MR||SECRETNAME^X||{secret}|F"))
    err = caught.value
    assert (err.where.record, err.where.segment, err.where.field) == ("K9", "PID", "PID-7")
    for value in (secret, "SECRETNAME", "SECRETID"):
        assert value not in str(err)


def test_unsupported_types_are_refused_by_name_not_dropped() -> None:
    oru = message(MSH.format(type="ORU^R01^ORU_R01", key="R1"), "PID|1||P1^^^GHH^MR")
    with pytest.raises(UnsupportedMessage) as caught:
        convert(oru)
    assert "ORU^R01 is not taken by the hl7v2 adapter" in str(caught.value)


def test_empty_and_blank_payloads_are_refused() -> None:
    for payload in (b"", b"  \r\n "):
        with pytest.raises(AdapterError):
            ADAPTER.parse(payload, ER7)


def test_every_record_keeps_its_message_control_id() -> None:
    assert [c.record_key for c in convert(adt("A01", "CTRL-42"))] == ["CTRL-42"]
    (prov,) = resources(one(adt("A01", "CTRL-42")), "Provenance")
    assert prov["entity"][0]["what"]["identifier"]["value"] == "CTRL-42"


@pytest.mark.parametrize("charset", ["no-such-charset", "base64", "rot13", "hex"])
def test_a_media_type_charset_that_is_not_a_text_encoding_is_refused(charset: str) -> None:
    with pytest.raises(AdapterError):
        ADAPTER.parse(adt().encode(), f"text/plain; charset={charset}")
