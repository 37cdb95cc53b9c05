"""What each segment and field becomes: identifiers, names, dates, visits, merges, referrals, orders,
the Provenance and the list of what was not mapped."""

from __future__ import annotations

import pytest

from adapters.base import AdapterError, stable_id
from tests.adapters.hl7v2.support import (
    MSH,
    PID,
    PV1,
    adt,
    fixture,
    message,
    one,
    resources,
    single,
)

GHH_OID = "urn:oid:2.16.840.1.113883.19.5"


def _pid(cx: str = "P1^^^GHH^MR", rest: str = "DOE^ANN||19800101|F") -> str:
    return f"PID|1||{cx}||{rest}"


# --- identifiers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authority", "system"),
    [
        ("GHH&2.16.840.1.113883.19.5&ISO", GHH_OID),
        ("2.16.840.1.113883.19.5", GHH_OID),
        ("GHH", "urn:gateway:hl7v2:authority:test-agency:GHH"),
        ("GOOD HEALTH", "urn:gateway:hl7v2:authority:test-agency:GOOD%20HEALTH"),
        (
            "X&0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0&UUID",
            "urn:uuid:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        ),
        ("X&https://ids.example.org/mrn&URI", "https://ids.example.org/mrn"),
    ],
)
def test_the_assigning_authority_becomes_the_identifier_system(authority: str, system: str) -> None:
    patient = single(one(adt(pid=_pid(f"P1^^^{authority}^MR"))), "Patient")
    assert patient["identifier"][0]["system"] == system
    assert patient["identifier"][0]["value"] == "P1"
    assert patient["id"] == stable_id("test-agency", system, "P1")


def test_identifier_type_comes_from_cx_5() -> None:
    patient = single(one(adt()), "Patient")
    types = [i["type"]["coding"][0]["code"] for i in patient["identifier"]]
    assert types == ["MR", "SS"]


def test_without_an_authority_the_id_comes_from_the_mr_number() -> None:
    patient = single(one(adt(pid=_pid("X9^^^^PI~P1^^^^MR"))), "Patient")
    assert all("system" not in i for i in patient["identifier"])
    assert patient["id"] == stable_id("test-agency", "MR", "P1")


def test_the_first_identifier_with_an_authority_names_the_patient() -> None:
    patient = single(one(adt(pid=_pid("LOCAL^^^^MR~P1^^^GHH^PI"))), "Patient")
    assert patient["id"] == stable_id(
        "test-agency", "urn:gateway:hl7v2:authority:test-agency:GHH", "P1"
    )


def test_two_agencies_with_the_same_namespace_do_not_share_a_system() -> None:
    from adapters.base import SourceInfo
    from tests.adapters.hl7v2.support import ADAPTER

    records = ADAPTER.parse(adt(pid=_pid()).encode(), "text/plain")
    a = single(ADAPTER.to_fhir(records[0], SourceInfo("hosp-a", "c")), "Patient")
    b = single(ADAPTER.to_fhir(records[0], SourceInfo("hosp-b", "c")), "Patient")
    assert a["identifier"][0]["system"] != b["identifier"][0]["system"]
    assert a["id"] != b["id"]


# --- demographics --------------------------------------------------------------------------------


def test_names_keep_family_given_prefix_suffix_and_use() -> None:
    pid = _pid(rest="DOE^JANE^Q^JR^DR^PHD^L~SMITH^JANE^^^^^M||19800101|F")
    patient = single(one(adt(pid=pid)), "Patient")
    assert patient["name"] == [
        {
            "use": "official",
            "family": "DOE",
            "given": ["JANE", "Q"],
            "prefix": ["DR"],
            "suffix": ["JR", "PHD"],
        },
        {"use": "maiden", "family": "SMITH", "given": ["JANE"]},
    ]


@pytest.mark.parametrize(
    ("code", "gender"),
    [
        ("M", "male"),
        ("F", "female"),
        ("O", "other"),
        ("A", "other"),
        ("U", "unknown"),
        ("N", "unknown"),
    ],
)
def test_administrative_sex(code: str, gender: str) -> None:
    patient = single(one(adt(pid=_pid(rest=f"DOE^ANN||19800101|{code}"))), "Patient")
    assert patient["gender"] == gender


def test_an_unknown_sex_code_is_reported_not_guessed() -> None:
    conversion = one(adt(pid=_pid(rest="DOE^ANN||19800101|X")))
    assert "gender" not in single(conversion, "Patient")
    assert "PID-8" in conversion.unmapped


@pytest.mark.parametrize(
    ("sent", "birth"),
    [
        ("1980", "1980"),
        ("198002", "1980-02"),
        ("19800214", "1980-02-14"),
        ("198002141230+0200", "1980-02-14"),
    ],
)
def test_birth_date_keeps_the_precision_sent(sent: str, birth: str) -> None:
    patient = single(one(adt(pid=_pid(rest=f"DOE^ANN||{sent}|F"))), "Patient")
    assert patient["birthDate"] == birth


@pytest.mark.parametrize(
    "bad", ["19801301", "19800230", "1980021", "1980-02-14", "198002142460", "19800214+1500"]
)
def test_an_impossible_birth_date_is_refused_at_pid_7(bad: str) -> None:
    with pytest.raises(AdapterError) as caught:
        one(adt(pid=_pid(rest=f"DOE^ANN||{bad}|F")))
    assert caught.value.where.field == "PID-7"
    assert bad not in str(caught.value)


def test_times_without_an_offset_take_the_offset_of_msh_7() -> None:
    pv1 = PV1.replace("20240301100000+0100", "202403011000")
    encounter = single(one(adt(pv1=pv1)), "Encounter")
    assert encounter["period"]["start"] == "2024-03-01T10:00:00+01:00"


def test_address_telecom_marital_status_and_death() -> None:
    pid = PID + "|||||||||||||20240301|Y"
    patient = single(one(adt(pid=pid)), "Patient")
    assert patient["address"] == [
        {
            "use": "home",
            "line": ["12 MAIN ST", "APT 4"],
            "city": "SPRINGFIELD",
            "state": "IL",
            "postalCode": "62701",
            "country": "USA",
        }
    ]
    assert patient["telecom"] == [{"system": "phone", "value": "(217)555-0100", "use": "home"}]
    assert patient["maritalStatus"]["coding"][0]["code"] == "M"
    assert patient["deceasedDateTime"] == "2024-03-01"


# --- visits --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "status"),
    [
        ("A01", "in-progress"),
        ("A02", "in-progress"),
        ("A03", "finished"),
        ("A04", "arrived"),
        ("A08", "in-progress"),
        ("A11", "cancelled"),
        ("A13", "in-progress"),
    ],
)
def test_encounter_status_follows_the_event(event: str, status: str) -> None:
    assert single(one(adt(event)), "Encounter")["status"] == status


def test_the_encounter_is_the_visit_number_with_class_location_and_attending() -> None:
    conversion = one(adt())
    encounter = single(conversion, "Encounter")
    assert encounter["id"] == stable_id("test-agency", "Encounter", GHH_OID, "V100")
    assert encounter["class"]["code"] == "EMER"
    location = single(conversion, "Location")
    assert location["name"] == "GHH / ED / 101 / A"
    assert encounter["location"] == [
        {"location": {"reference": f"Location/{location['id']}"}, "status": "active"}
    ]
    doctor = single(conversion, "Practitioner")
    assert doctor["name"] == [{"family": "WELBY", "given": ["MARCUS"], "prefix": ["DR"]}]
    assert encounter["participant"][0]["individual"]["reference"] == f"Practitioner/{doctor['id']}"
    assert encounter["participant"][0]["type"][0]["coding"][0]["code"] == "ATND"


def test_a13_cancels_the_discharge_time() -> None:
    pv1 = PV1 + "|20240302090000+0100"
    assert "end" in single(one(adt("A03", pv1=pv1)), "Encounter")["period"]
    assert "end" not in single(one(adt("A13", pv1=pv1)), "Encounter")["period"]


def test_a_placeholder_pv1_makes_no_encounter() -> None:
    conversion = one(adt("A08", pv1="PV1|1|N"))
    assert resources(conversion, "Encounter") == []


def test_person_events_write_no_encounter() -> None:
    for event in ("A28", "A31"):
        conversion = one(adt(event))
        assert resources(conversion, "Encounter") == []
        assert "segment PV1" in conversion.unmapped


def test_encounter_events_need_a_pv1() -> None:
    text = message(MSH.format(type="ADT^A01", key="K1"), PID)
    with pytest.raises(AdapterError) as caught:
        one(text)
    assert caught.value.where.segment == "PV1"


def test_diagnoses_allergies_and_insurance() -> None:
    extra = (
        "AL1|1|DA|70618^Penicillin^RXNORM|SV|Hives~Wheeze|20200101",
        "DG1|1||F32.9^Depression^I10C||20240301|W",
        "IN1|1|P100^Gold Plan|INS1^^^GHH|Acme Health||||G55|||||||||SPO|||||||||||||||||||M777",
    )
    conversion = one(adt("A01", "K1", *extra))
    allergy = single(conversion, "AllergyIntolerance")
    assert allergy["category"] == ["medication"]
    assert allergy["code"]["coding"][0]["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert allergy["reaction"][0]["severity"] == "severe"
    assert [m["text"] for m in allergy["reaction"][0]["manifestation"]] == ["Hives", "Wheeze"]
    condition = single(conversion, "Condition")
    assert condition["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10-cm",
        "code": "F32.9",
        "display": "Depression",
    }
    assert condition["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert condition["encounter"]["reference"].startswith("Encounter/")
    coverage = single(conversion, "Coverage")
    assert coverage["subscriberId"] == "M777"
    assert coverage["payor"][0]["display"] == "Acme Health"
    assert coverage["relationship"]["coding"][0]["code"] == "spouse"
    assert [c["value"] for c in coverage["class"]] == ["P100", "G55"]


# --- merges --------------------------------------------------------------------------------------


def _merge(mrg: str = "MRG|OLD1^^^GHH^MR", event: str = "A40") -> str:
    return message(MSH.format(type=f"ADT^{event}", key="M1"), f"EVN|{event}", _pid(), mrg)


@pytest.mark.parametrize("event", ["A40", "A47"])
def test_a_merge_links_survivor_and_prior_patient(event: str) -> None:
    patients = resources(one(_merge(event=event)), "Patient")
    survivor, prior = patients
    system = "urn:gateway:hl7v2:authority:test-agency:GHH"
    assert survivor["id"] == stable_id("test-agency", system, "P1")
    assert prior["id"] == stable_id("test-agency", system, "OLD1")
    assert survivor["link"] == [
        {"other": {"reference": f"Patient/{prior['id']}"}, "type": "replaces"}
    ]
    assert prior["link"] == [
        {"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}
    ]
    assert prior["active"] is False
    assert prior["identifier"][0]["use"] == "old"


def test_a_merge_into_itself_is_refused() -> None:
    with pytest.raises(AdapterError) as caught:
        one(_merge("MRG|P1^^^GHH^MR"))
    assert caught.value.where.field == "MRG-1"


def test_a_merge_without_mrg_is_refused() -> None:
    with pytest.raises(AdapterError) as caught:
        one(message(MSH.format(type="ADT^A40", key="M1"), _pid()))
    assert caught.value.where.segment == "PID"


# --- referrals and orders ------------------------------------------------------------------------


def test_a_referral_becomes_a_service_request_and_a_task() -> None:
    conversion = one(fixture("REF-I12-01.hl7"))
    request = single(conversion, "ServiceRequest")
    task = single(conversion, "Task")
    assert (request["status"], request["intent"], request["priority"]) == (
        "active",
        "order",
        "routine",
    )
    assert request["code"]["coding"][0]["code"] == "Med"
    assert request["reasonCode"][-1]["coding"][0]["code"] == "K63.3"
    assert request["requester"]["display"] == "DR ROBERT POWELL"
    assert request["performer"][0]["display"] == "DR PAUL McWILLIAMS"
    assert task["focus"] == {"reference": f"ServiceRequest/{request['id']}"}
    assert (
        task["for"]
        == request["subject"]
        == {"reference": f"Patient/{single(conversion, 'Patient')['id']}"}
    )
    assert (task["status"], task["intent"]) == ("requested", "order")
    assert task["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/CodeSystem/task-code",
        "code": "fulfill",
    }
    assert task["owner"] == request["performer"][0]


def test_a_referral_cancel_lands_on_the_same_request() -> None:
    request = single(one(fixture("REF-I12-01.hl7")), "ServiceRequest")
    cancel = one(fixture("REF-I14-01.hl7"))
    cancelled = single(cancel, "ServiceRequest")
    assert cancelled["id"] == request["id"]
    assert cancelled["status"] == "revoked"
    assert single(cancel, "Task")["status"] == "cancelled"


def test_an_order_message_requests_its_orders_but_not_prior_results() -> None:
    conversion = one(fixture("OMG-O19-01.hl7"))
    request = single(conversion, "ServiceRequest")
    assert request["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "57698-3",
        "display": "Lipid panel with direct LDL - Serum or Plasma",
    }
    assert request["status"] == "on-hold"
    assert single(conversion, "Task")["status"] == "on-hold"
    assert request["note"] == [{"text": "Urgent"}]
    assert request["reasonCode"][0]["coding"][0]["code"] == "E10.9"
    assert request["identifier"][0]["type"]["coding"][0]["code"] == "PGN"


# --- provenance and unmapped data ----------------------------------------------------------------


def test_provenance_names_agency_message_adapter_and_every_resource() -> None:
    conversion = one(adt("A01", "K7"))
    prov = single(conversion, "Provenance")
    others = {f"{r['resourceType']}/{r['id']}" for r in resources(conversion) if r is not prov}
    assert {t["reference"] for t in prov["target"]} == others
    assert prov["id"] == stable_id("test-agency", "provenance", "K7")
    assert prov["recorded"] == "2024-03-01T10:15:00+01:00"
    assert prov["agent"][0]["who"]["display"] == "test-agency"
    assert prov["agent"][1]["who"]["display"] == "hl7v2 adapter 0.1.0"
    assert prov["entity"][0]["what"]["identifier"]["value"] == "K7"
    assert all(
        r["meta"]["source"] == "urn:gateway:agency:test-agency" for r in resources(conversion)
    )


def test_unmapped_segments_and_fields_are_listed_not_lost() -> None:
    pid = PID.replace("|F|", "|F|2106-3|")  # PID-9 (alias) now holds something
    conversion = one(adt("A01", "K1", "ZPD|1|custom", "NK1|1|DOE^JOHN", pid=pid))
    assert "segment ZPD" in conversion.unmapped
    assert "segment NK1" in conversion.unmapped
    assert "PID-9" in conversion.unmapped
    prov = single(conversion, "Provenance")
    assert [e["valueString"] for e in prov["extension"]] == conversion.unmapped


def test_a_resend_changes_nothing_and_an_update_changes_content_not_ids() -> None:
    assert one(adt("A01", "K1")).bundle == one(adt("A01", "K1")).bundle
    first = one(adt("A01", "K1"))
    update = one(adt("A08", "K2", pid=PID.replace("DOE^JANE", "DOE^JANET")))
    for rtype in ("Patient", "Encounter", "Practitioner", "Location"):
        assert single(first, rtype)["id"] == single(update, rtype)["id"]
    assert single(update, "Patient")["name"][0]["given"][0] == "JANET"
