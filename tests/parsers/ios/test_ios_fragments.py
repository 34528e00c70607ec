"""The column-wise JSON of extra (commtrail/parsers/ios/fragments.py) gives what json.dumps gives."""

from __future__ import annotations

import json

import pyarrow as pa

from commtrail.parsers.ios import fragments as fr
from commtrail.demo_ios import cocoa


def _objects(*columns):
    return [json.loads(t) if t else None for t in fr.objects(list(columns)).to_pylist()]


def test_values_of_every_sqlite_type():
    assert _objects(fr.value("n", (1, 0, None, 7)), fr.value("r", (65.4, None, 120.0, 0.5)),
                    fr.value("t", ("a\"b\\c\n", "", None, "café 🙂")),
                    fr.value("mixed", (b"\x01\xab", 3, "x", None))) == [
        {"n": 1, "r": 65.4, "t": "a\"b\\c\n", "mixed": "01AB"}, {"n": 0, "mixed": 3},
        {"r": 120.0, "mixed": "x"}, {"n": 7, "r": 0.5, "t": "café 🙂"}]
    assert fr.objects([fr.value("none", (None, None))]).to_pylist() == [None, None]


def test_texts_dates_and_an_added_fragment():
    dates = pa.array([cocoa("2024-03-01T18:31:00.250Z"), 0, None, cocoa("2024-03-01T18:31:00Z", nanos=False)],
                     pa.int64())
    texts = pa.array(["GUID-1", None, "tab\there", "x"], pa.string())
    rows = _objects(fr.text("guid", texts), fr.cocoa_date("read", dates))
    assert rows == [{"guid": "GUID-1", "read": "2024-03-01T18:31:00.250Z"}, None, {"guid": "tab\there"},
                    {"guid": "x", "read": "2024-03-01T18:31:00.000Z"}]
    extended = fr.extended(pa.array(['{"a":1}', "{}", None]), ',"device":"D"').to_pylist()
    assert [json.loads(t) for t in extended] == [{"a": 1, "device": "D"}, {"device": "D"}, {"device": "D"}]
