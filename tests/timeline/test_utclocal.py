"""UTC -> local wall-clock time without pandas (commtrail/timeline/utclocal.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np

from commtrail.timeline.utclocal import NAT, local_datetime, to_local_us

US = 1_000_000


def us(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()) * US


def test_local_times_across_both_changes_of_a_year():
    # Europe/London: BST from 2024-03-31 01:00 UTC to 2024-10-27 01:00 UTC
    utc = np.array([us("2024-03-31T00:59:59"), us("2024-03-31T01:00:00"), us("2024-10-27T00:30:00"),
                    us("2024-10-27T01:30:00"), NAT, us("2024-07-01T12:00:00") + 123_456], dtype=np.int64)
    local = to_local_us(utc, "Europe/London")
    assert local.tolist() == [us("2024-03-31T00:59:59"), us("2024-03-31T02:00:00"), us("2024-10-27T01:30:00"),
                              us("2024-10-27T01:30:00"), NAT, us("2024-07-01T13:00:00") + 123_456]


def test_a_change_inside_an_hour_is_found_instant_by_instant():
    # Australia/Lord_Howe goes from +10:30 to +11:00 at 2024-10-05 15:30 UTC, half past an hour
    utc = np.array([us("2024-10-05T15:29:59"), us("2024-10-05T15:30:00"), us("2024-01-01T00:00:00")])
    assert (to_local_us(utc[:2], "Australia/Lord_Howe") - utc[:2]).tolist() == [int(10.5 * 3600 * US), 11 * 3600 * US]
    # Asia/Kolkata is +05:30 all year
    assert (to_local_us(utc[2:], ZoneInfo("Asia/Kolkata")) - utc[2:]).tolist() == [int(5.5 * 3600 * US)]


def test_the_second_0130_of_the_autumn_change_has_its_own_offset():
    zone = ZoneInfo("Europe/London")
    first, second = local_datetime(us("2024-10-27T00:30:00"), zone), local_datetime(us("2024-10-27T01:30:00"), zone)
    assert (first.isoformat(), second.isoformat()) == ("2024-10-27T01:30:00+01:00", "2024-10-27T01:30:00+00:00")
    assert to_local_us(np.zeros(0, dtype=np.int64), zone).tolist() == []
