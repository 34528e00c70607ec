"""Every Android reader gives the same records, rejects, warnings and repairs whether its rows are
fetched here or by a second process (commtrail/sqlitefeed.py; ``FEED_FROM_BYTES`` set to 0 so
that the tests' small databases are fed too)."""

from __future__ import annotations

import sqlite3

import pytest
from android_scenario import calllog, mmssms, msgstore, msgstore_legacy
from conftest import run_on_disk

from commtrail import sqlitefeed
from commtrail.parsers.base import Owner

OWNER = Owner(name="Sam", phones=frozenset({"+447700900999"}))
SPOIL = {   # a text that is not UTF-8 and a record whose own date is no number (an SMS: a BLOB its JSON cannot hold)
    "android-sms": ("UPDATE sms SET body = CAST(x'4f6b20ff21' AS TEXT) WHERE _id = 2",
                    "UPDATE sms SET date = 'x' WHERE _id = 1", "UPDATE sms SET thread_id = x'00ff' WHERE _id = 3"),
    "android-calls": ("UPDATE calls SET number = CAST(x'4f6b20ff21' AS TEXT) WHERE _id = 2",
                      "UPDATE calls SET date = 'x' WHERE _id = 1", "UPDATE calls SET countryiso = x'00ff' WHERE _id = 3"),
    "android-whatsapp": (),
}
BUILDS = {"mmssms": ("android-sms", mmssms), "calllog": ("android-calls", calllog),
          "msgstore": ("android-whatsapp", msgstore), "msgstore-legacy": ("android-whatsapp", msgstore_legacy)}


def read(tmp_path, parser, path):
    table, rejects, report = run_on_disk(tmp_path, parser, path, owner=OWNER, timezone="Europe/London")
    return table.to_pylist(), rejects, report.warnings, report.repairs


@pytest.mark.parametrize("spoil", [False, True], ids=["as-written", "spoilt"])
@pytest.mark.parametrize("name", BUILDS)
def test_an_android_database_reads_the_same_fed(tmp_path, monkeypatch, name, spoil):
    parser, build = BUILDS[name]
    path = build(tmp_path / "phone")
    if spoil:
        con = sqlite3.connect(path)
        for statement in SPOIL[parser]:
            con.execute(statement)
        con.commit()
        con.close()
    here = read(tmp_path / "here", parser, path)
    monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 0)
    started = []
    real_send = sqlitefeed._send_spec
    monkeypatch.setattr(sqlitefeed, "_send_spec", lambda process, spec: started.append(spec) or real_send(process, spec))
    assert read(tmp_path / "fed", parser, path) == here
    assert started and len(here[0]) > 0
    if spoil and SPOIL[parser]:
        assert here[3] == 1 and len(here[1]) >= 1
