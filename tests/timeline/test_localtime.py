"""Local wall-clock time to UTC, with daylight-saving gaps and repeats flagged."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commtrail.timeline.localtime import TZ_SOURCE_LABELS, to_utc, to_utc_labels

NAT = np.iinfo(np.int64).min


def iso(us: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=int(us))).isoformat()


LONDON = [
    # spring forward, 31 March 2024: 01:00 GMT -> 02:00 BST, 01:xx never happens
    ("2024-03-31T00:59:59", "2024-03-31T00:59:59+00:00", "case"),
    ("2024-03-31T01:00:00", "2024-03-31T01:00:00+00:00", "flag_nonexistent"),
    ("2024-03-31T01:30:00", "2024-03-31T01:30:00+00:00", "flag_nonexistent"),
    ("2024-03-31T01:59:59", "2024-03-31T01:59:59+00:00", "flag_nonexistent"),
    ("2024-03-31T02:00:00", "2024-03-31T01:00:00+00:00", "case"),
    ("2024-03-31T02:30:00", "2024-03-31T01:30:00+00:00", "case"),
    # fall back, 27 October 2024: 02:00 BST -> 01:00 GMT, 01:xx happens twice: the earlier is taken
    ("2024-10-27T00:59:59", "2024-10-26T23:59:59+00:00", "case"),
    ("2024-10-27T01:00:00", "2024-10-27T00:00:00+00:00", "flag_ambiguous"),
    ("2024-10-27T01:30:00", "2024-10-27T00:30:00+00:00", "flag_ambiguous"),
    ("2024-10-27T01:59:59", "2024-10-27T00:59:59+00:00", "flag_ambiguous"),
    ("2024-10-27T02:00:00", "2024-10-27T02:00:00+00:00", "case"),
    # ordinary winter and summer times
    ("2024-01-15T12:00:00", "2024-01-15T12:00:00+00:00", "case"),
    ("2024-07-15T12:00:00", "2024-07-15T11:00:00+00:00", "case"),
]


def test_london_transitions():
    naive = np.array([x[0] for x in LONDON], dtype="M8[us]")
    utc, labels = to_utc_labels(naive, "Europe/London")
    assert [(iso(u), lab) for u, lab in zip(utc, labels)] == [(x[1], x[2]) for x in LONDON]


def test_input_kinds_agree():
    strings = [x[0] for x in LONDON]
    as_m8 = np.array(strings, dtype="M8[s]")
    as_int = np.array(strings, dtype="M8[us]").view(np.int64)
    as_series = pd.Series(pd.to_datetime(strings))
    first = to_utc(as_m8, "Europe/London")
    for other in (as_int, as_series):
        result = to_utc(other, "Europe/London")
        assert np.array_equal(first[0], result[0]) and np.array_equal(first[1], result[1])


def test_nat_and_empty():
    utc, codes = to_utc(np.array(["NaT", "2024-01-01T00:00"], dtype="M8[us]"), "Europe/London")
    assert utc[0] == NAT and codes.tolist() == [0, 0]
    utc, codes = to_utc(np.array([], dtype="M8[us]"), "Europe/London")
    assert len(utc) == 0 and len(codes) == 0


def test_other_zones():
    naive = np.array(["2024-03-10T02:30", "2024-11-03T01:30", "2024-06-01T12:00"], dtype="M8[us]")
    utc, labels = to_utc_labels(naive, "America/New_York")
    assert [iso(u) for u in utc] == ["2024-03-10T07:30:00+00:00", "2024-11-03T05:30:00+00:00",
                                     "2024-06-01T16:00:00+00:00"]
    assert labels == ["flag_nonexistent", "flag_ambiguous", "case"]
    utc, labels = to_utc_labels(naive, "UTC")
    assert labels == ["case"] * 3 and iso(utc[2]) == "2024-06-01T12:00:00+00:00"


def test_labels_are_the_schema_values():
    from commtrail.timeline.schema import TZ_SOURCES
    assert set(TZ_SOURCE_LABELS) <= set(TZ_SOURCES)


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31)))
def test_matches_zoneinfo_fold0(wall):
    from zoneinfo import ZoneInfo
    zone = ZoneInfo("Europe/London")
    wall = wall.replace(microsecond=0)
    utc, codes = to_utc(np.array([np.datetime64(wall, "us")]), "Europe/London")
    expected = wall.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)
    assert iso(utc[0]) == expected.isoformat()


ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo",
         "Pacific/Apia", "Europe/Dublin", "Africa/Casablanca", "UTC"]


@pytest.mark.parametrize("zone", ZONES)
def test_matches_pandas_over_centuries(zone):
    """Local times every 13 minutes in the 8 hours before each change of the offset (found by pandas) and random times
    from 1900 to 2199: pandas' tz_localize where it names one instant, zoneinfo's fold=0 (and the
    right flag) where it does not."""
    rng = np.random.default_rng(19)
    low, high = np.datetime64("1900-01-01", "us").view(np.int64), np.datetime64("2199-12-31", "us").view(np.int64)
    steps = pd.date_range("1900-01-01", "2199-12-31", freq="6h", tz=zone)
    offsets = steps.tz_localize(None).as_unit("us").asi8 - steps.as_unit("us").asi8
    changes = steps[1:][np.diff(offsets) != 0].tz_localize(None).as_unit("us").asi8
    around = (changes[:, None] + np.arange(-8 * 60, 60, 13)[None, :] * 60_000_000).ravel()
    local = np.concatenate([around, rng.integers(low, high, 5_000), [NAT]])
    utc, codes = to_utc(local, zone)
    index = pd.DatetimeIndex(local.view("M8[us]")).tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    theirs = index.as_unit("us").asi8
    clear = theirs != NAT
    assert np.array_equal(utc[clear], theirs[clear]) and not codes[clear].any()
    from zoneinfo import ZoneInfo
    tz = ZoneInfo(zone)
    for value, got, code in zip(local[~clear][:-1].tolist(), utc[~clear].tolist(), codes[~clear].tolist()):
        wall = datetime(1970, 1, 1) + timedelta(microseconds=value)
        first = wall.replace(tzinfo=tz, fold=0)
        assert iso(got) == first.astimezone(timezone.utc).isoformat()
        back = first.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None)
        assert TZ_SOURCE_LABELS[code] == ("flag_ambiguous" if back == wall else "flag_nonexistent")
    assert utc[-1] == NAT


@pytest.mark.parametrize("bad", [np.array(["x"], dtype=object)])
def test_rejects_unreadable_input(bad):
    with pytest.raises((TypeError, ValueError)):
        to_utc(bad, "UTC")
