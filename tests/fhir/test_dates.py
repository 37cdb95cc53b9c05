"""gateway.fhir.dates: FHIR date/dateTime/instant values as ranges (R4 search.html#date)."""

from __future__ import annotations

from datetime import datetime

import pytest

from gateway.fhir.dates import MAX_TS, BadDate, date_range, http_date, instant_now


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


MICRO = 1e-6


@pytest.mark.parametrize(
    "value, low, high",
    [
        ("2024", "2024-01-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"),
        ("2024-02", "2024-02-01T00:00:00+00:00", "2024-03-01T00:00:00+00:00"),  # leap year
        ("2023-02", "2023-02-01T00:00:00+00:00", "2023-03-01T00:00:00+00:00"),
        ("2024-12", "2024-12-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"),
        ("2024-02-29", "2024-02-29T00:00:00+00:00", "2024-03-01T00:00:00+00:00"),
        ("2024-05-01T10:30Z", "2024-05-01T10:30:00+00:00", "2024-05-01T10:31:00+00:00"),
        ("2024-05-01T10:30:15Z", "2024-05-01T10:30:15+00:00", "2024-05-01T10:30:16+00:00"),
        (
            "2024-05-01T10:30:15.5Z",
            "2024-05-01T10:30:15.500000+00:00",
            "2024-05-01T10:30:15.600000+00:00",
        ),
        (
            "2024-05-01T10:30:15.123Z",
            "2024-05-01T10:30:15.123000+00:00",
            "2024-05-01T10:30:15.124000+00:00",
        ),
        (
            "2024-05-01T10:30:15.123456Z",
            "2024-05-01T10:30:15.123456+00:00",
            "2024-05-01T10:30:15.123457+00:00",
        ),
        ("2024-05-01T10:30:15+02:00", "2024-05-01T08:30:15+00:00", "2024-05-01T08:30:16+00:00"),
        ("2024-05-01T01:00:00-05:00", "2024-05-01T06:00:00+00:00", "2024-05-01T06:00:01+00:00"),
        (
            "2024-05-01T10:30:15",
            "2024-05-01T10:30:15+00:00",
            "2024-05-01T10:30:16+00:00",
        ),  # no zone: UTC
    ],
)
def test_precision_is_the_range(value: str, low: str, high: str) -> None:
    got_low, got_high = date_range(value)
    assert got_low == pytest.approx(ts(low), abs=MICRO / 10)
    assert got_high == pytest.approx(ts(high) - MICRO, abs=MICRO / 10)
    assert got_low <= got_high


def test_ranges_nest_by_precision() -> None:
    year, month, day = date_range("2024"), date_range("2024-06"), date_range("2024-06-15")
    assert year[0] <= month[0] <= day[0] <= day[1] <= month[1] <= year[1]


def test_fraction_digits_beyond_microseconds_keep_microsecond_precision() -> None:
    low, high = date_range("2024-05-01T10:30:15.1234567Z")
    assert low == pytest.approx(ts("2024-05-01T10:30:15.123456+00:00"), abs=MICRO / 10)
    assert high == pytest.approx(low, abs=MICRO / 10)


@pytest.mark.parametrize(
    "value", ["9999", "9999-12", "9999-12-31", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00"]
)
def test_the_last_year_does_not_overflow(value: str) -> None:
    low, high = date_range(value)
    assert high == max(MAX_TS, low)  # open to the end of representable time


@pytest.mark.parametrize("value", ["0001", "0001-01-01", "0001-01-01T00:00:00+14:00"])
def test_the_first_year_works(value: str) -> None:
    low, high = date_range(value)
    assert low < high


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "2024-13",
        "2024-00",
        "2023-02-29",
        "2024-04-31",
        "2024-5-1",
        "24-05-01",
        "2024-05-01T10",  # an hour needs minutes (R4 search.html#date)
        "2024-05-01T24:00:00Z",
        "2024-05-01T10:60:00Z",
        "2024-05-01T10:30:61Z",
        "2024-05-01T10:30:00+24:00",
        "2024-05-01T10:30:00+0200",
        "2024-05-01Z",
        "2024-05-01 10:30:00",
        "0000",
        "+2024",
        "2024-05-01T10:30:00.Z",
    ],
)
def test_bad_values_raise_bad_date(value: str) -> None:
    with pytest.raises(BadDate):
        date_range(value)


def test_surrounding_whitespace_is_tolerated() -> None:
    assert date_range(" 2024 ") == date_range("2024")


def test_instant_now_is_a_millisecond_utc_instant_matching_its_timestamp() -> None:
    text, stamp = instant_now()
    assert text.endswith("Z") and len(text) == len("2024-05-01T10:30:15.123Z")
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.timestamp() == pytest.approx(stamp, abs=MICRO / 10)
    low, high = date_range(text)
    assert low <= stamp <= high


def test_instant_now_after_a_time_is_strictly_later() -> None:
    text, stamp = instant_now()
    future = stamp + 3600
    later_text, later = instant_now(after=future)
    assert later == pytest.approx(future + 0.001, abs=MICRO)
    assert later_text > text
    assert instant_now(after=stamp - 3600)[1] >= stamp


def test_http_date_is_imf_fixdate() -> None:
    assert http_date(ts("2024-05-01T10:30:15+00:00")) == "Wed, 01 May 2024 10:30:15 GMT"
