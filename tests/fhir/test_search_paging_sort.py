"""_count and paging links, _sort, _total, _summary and _elements (R4 search.html#return)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from gateway.db.session import Database
from gateway.settings import Settings
from tests.fhir.conftest import app_client
from tests.fhir.helpers import BASE, create, ids, link, observation, outcome, patient, search

SUBSETTED = "SUBSETTED"


def make_patients(client: TestClient, n: int) -> list[str]:
    return [
        create(client, patient(name=[{"family": f"Fam{i:02d}"}], birthDate=f"19{50 + i}-01-01"))[
            "id"
        ]
        for i in range(n)
    ]


def follow(client: TestClient, url: str) -> dict[str, Any]:
    assert url.startswith(BASE + "/")
    return search(client, url.removeprefix(BASE + "/"))


def test_count_pages_through_everything_once(client: TestClient) -> None:
    made = make_patients(client, 7)
    page = search(client, "Patient?_count=3&_sort=family")
    assert page["total"] == 7
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert len(ids(page)) <= 3
        seen += ids(page)
        assert link(page, "self") and link(page, "first")
        nxt = link(page, "next")
        if nxt is None:
            break
        assert "_count=3" in nxt and "_sort=family" in nxt
        page = follow(client, nxt)
    assert pages == 3
    assert seen == made  # family names sort in creation order
    previous = link(page, "previous")
    assert previous is not None and ids(follow(client, previous)) == made[3:6]


def test_exact_multiple_of_count_has_no_empty_next_page(client: TestClient) -> None:
    make_patients(client, 4)
    second = follow(client, link(search(client, "Patient?_count=2"), "next") or "")
    assert len(ids(second)) == 2 and link(second, "next") is None


def test_count_zero_gives_only_the_total(client: TestClient) -> None:
    make_patients(client, 3)
    for query in ("Patient?_count=0", "Patient?_count=0&_total=none", "Patient?_summary=count"):
        bundle = search(client, query)
        assert bundle["total"] == 3, query
        assert "entry" not in bundle and link(bundle, "next") is None


def test_count_is_capped_by_the_server(db: Database, settings: Settings) -> None:
    with app_client(db, settings, max_page_size=2, default_page_size=2) as client:
        make_patients(client, 5)
        assert len(ids(search(client, "Patient?_count=100"))) == 2
        assert len(ids(search(client, "Patient"))) == 2


def test_total(client: TestClient) -> None:
    make_patients(client, 2)
    assert "total" not in search(client, "Patient?_total=none")
    assert search(client, "Patient?_total=accurate")["total"] == 2
    assert search(client, "Patient?_total=estimate")["total"] == 2
    assert search(client, "Patient?_count=1")["total"] == 2


def test_sort_by_date_string_and_last_updated(client: TestClient) -> None:
    made = make_patients(client, 4)
    assert ids(search(client, "Patient?_sort=birthdate")) == made
    assert ids(search(client, "Patient?_sort=-birthdate")) == made[::-1]
    assert ids(search(client, "Patient?_sort=-family")) == made[::-1]
    assert ids(search(client, "Patient?_sort=-_lastUpdated")) == made[::-1]
    assert ids(search(client, "Patient?_sort=_lastUpdated")) == made


def test_sort_with_several_keys_and_missing_values_last(client: TestClient) -> None:
    a = create(client, patient(gender="male", birthDate="1990"))["id"]
    b = create(client, patient(gender="female", birthDate="1991"))["id"]
    c = create(client, patient(gender="female", birthDate="1989"))["id"]
    d = create(client, patient())["id"]
    assert ids(search(client, "Patient?_sort=gender,-birthdate")) == [b, c, a, d]
    assert ids(search(client, "Patient?_sort=-gender,birthdate")) == [a, c, b, d]


def test_sort_on_repeating_values_uses_the_earliest_in_sort_order(client: TestClient) -> None:
    a = create(client, patient(name=[{"family": "Marsh"}, {"family": "Adams"}]))["id"]
    b = create(client, patient(name=[{"family": "Brown"}]))["id"]
    assert ids(search(client, "Patient?_sort=family")) == [a, b]
    assert ids(search(client, "Patient?_sort=-family")) == [a, b]


def test_bad_paging_and_sort_parameters_are_400(client: TestClient) -> None:
    outcome(client.get("/fhir/Patient?_count=many"), 400, expression="_count")
    outcome(client.get("/fhir/Patient?_count=-1"), 400, expression="_count")
    outcome(client.get("/fhir/Patient?_offset=-5"), 400, expression="_offset")
    outcome(client.get("/fhir/Patient?_sort=shoe-size"), 400, expression="_sort")
    outcome(client.get("/fhir/Patient?_total=exact"), 400, expression="_total")
    outcome(client.get("/fhir/Patient?_summary=short"), 400, expression="_summary")
    outcome(client.get("/fhir/Patient?_format=xml"), 406, expression="_format")


def test_summary_true_keeps_summary_elements_and_marks_subsetted(client: TestClient) -> None:
    create(
        client,
        patient(
            gender="female",
            text={
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml">A</div>',
            },
            contact=[{"name": {"family": "Kin"}}],
        ),
    )
    resource = search(client, "Patient?_summary=true")["entry"][0]["resource"]
    assert resource["gender"] == "female"
    assert "contact" not in resource and "text" not in resource
    assert SUBSETTED in [t["code"] for t in resource["meta"]["tag"]]
    text = search(client, "Patient?_summary=text")["entry"][0]["resource"]
    assert "text" in text and "gender" not in text
    data = search(client, "Patient?_summary=data")["entry"][0]["resource"]
    assert "text" not in data and data["contact"]
    full = search(client, "Patient?_summary=false")["entry"][0]["resource"]
    assert "tag" not in full["meta"]


def test_summary_text_keeps_mandatory_elements(client: TestClient) -> None:
    create(client, observation(valueString="calm"))
    resource = search(client, "Observation?_summary=text")["entry"][0]["resource"]
    assert resource["status"] == "final" and resource["code"]
    assert "valueString" not in resource


def test_elements_returns_what_was_asked_plus_mandatory(client: TestClient) -> None:
    pid = create(client, patient(gender="male", birthDate="1980"))["id"]
    create(client, observation(f"Patient/{pid}", valueString="calm"))
    bundle = search(client, "Observation?_elements=subject&_include=Observation:subject")
    match, included = bundle["entry"][0]["resource"], bundle["entry"][1]["resource"]
    assert set(match) == {"resourceType", "id", "meta", "subject", "status", "code"}
    assert SUBSETTED in [t["code"] for t in match["meta"]["tag"]]
    # _elements does not apply to included resources
    assert included["gender"] == "male" and included["birthDate"] == "1980"
    assert "tag" not in included["meta"]
