"""A WhatsApp group export and the database's group of its name and people are linked (timeline/chatlinks.py)
whatever order they are ingested in: the master is the one a single ingest of both builds."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from commtrail.case import Case
from commtrail.cli import main
from commtrail.demo_ios import cocoa, whatsapp_db
from commtrail.outputs.produce import produce
from commtrail.timeline import keys
from commtrail.timeline.master import read_master

from conftest import CASE_TOML

GROUP_JID = "447700900999-1709900000@g.us"
JORDAN_JID, ALEX_JID = "447700900123@s.whatsapp.net", "447700900456@s.whatsapp.net"


def _msg(pk: int, iso: str, text: str, member: int | None = None) -> dict:
    return {"Z_PK": pk, "ZCHATSESSION": 1, "ZMESSAGEDATE": cocoa(iso, nanos=False), "ZISFROMME": int(member is None),
            "ZMESSAGETYPE": 0, "ZTEXT": text, "ZFROMJID": GROUP_JID, "ZGROUPMEMBER": member}


def inputs(folder: Path, subject: str = "Weekend", named: str = "Weekend") -> tuple[Path, Path]:
    """Sam's WhatsApp database holding the group ``subject``, and the group's export naming it ``named``."""
    folder.mkdir(parents=True, exist_ok=True)
    db = whatsapp_db(folder / "ChatStorage.sqlite",
                     sessions=[{"Z_PK": 1, "ZCONTACTJID": GROUP_JID, "ZPARTNERNAME": subject, "ZSESSIONTYPE": 1}],
                     members=[{"Z_PK": 1, "ZCHATSESSION": 1, "ZMEMBERJID": JORDAN_JID, "ZCONTACTNAME": "Jordan"},
                              {"Z_PK": 2, "ZCHATSESSION": 1, "ZMEMBERJID": ALEX_JID}],
                     messages=[_msg(1, "2024-03-15T09:01:00Z", "Is Sam coming?", 2),
                               _msg(2, "2024-03-15T09:02:00Z", "She is not", 1),
                               _msg(3, "2024-03-15T09:03:00Z", "No")])
    export = folder / "WhatsApp Chat - Weekend.txt"
    export.write_text(f"[15/03/2024, 08:59:00] {named}: \u200eMessages and calls are end-to-end encrypted.\n"
                      "[15/03/2024, 09:01:00] +44 7700 900456: Is Sam coming?\n"
                      "[15/03/2024, 09:02:00] Jordan: She is not\n"
                      "[15/03/2024, 09:03:00] Sam: No\n", encoding="utf-8")
    return db, export


def ingest(root: Path, *batches: list[Path]) -> Case:
    root.mkdir()
    (root / "case.toml").write_text(CASE_TOML, encoding="utf-8")
    for batch in batches:
        assert main(["ingest", str(root), *map(str, batch)]) == 0
    return Case(root)


@pytest.mark.parametrize("database_first", [True, False])
def test_linked_whatever_the_ingest_order(tmp_path, database_first):
    db, export = inputs(tmp_path / "in")
    whole = ingest(tmp_path / "whole", [db, export])
    master = read_master(whole).to_pylist()
    assert len(master) == 4 and [len(m["occurrences"]) for m in master] == [1, 2, 2, 2]
    assert {json.loads(m["extra"])["chat"] for m in master[1:]} == {f"group-jid:{GROUP_JID}"}
    parts = ingest(tmp_path / "parts", *([[db], [export]] if database_first else [[export], [db]]))
    assert parts.master_file.read_bytes() == whole.master_file.read_bytes()
    facts = {}
    for path in sorted((parts.root / keys.KEYS_DIR).glob("*.parquet")):
        facts[path.stem] = json.loads(pq.read_schema(path).metadata[keys.METADATA_KEY])
    links = sorted(f["links"] for f in facts.values())
    assert links[0] == [] and len(links[1]) == 1 and links[1][0][1] == f"group-jid:{GROUP_JID}"
    assert sorted(len(f["groups"]) for f in facts.values()) == [1, 1]


def test_an_export_whose_numbers_were_handed_over_is_not_linked_later(tmp_path):
    db, export = inputs(tmp_path / "in")
    case = ingest(tmp_path / "case", [export])
    assert produce(case, "report", None) is not None
    before = {m["event_id"]: m["exhibit"] for m in read_master(case).to_pylist()}
    assert main(["ingest", str(case.root), str(db)]) == 0
    after = read_master(case).to_pylist()
    assert {m["event_id"]: m["exhibit"] for m in after if m["event_id"] in before} == before
    assert len(after) == 4 + 3 and all(len(m["occurrences"]) == 1 for m in after)
    # keyed again from staging (a party added to case.toml): still apart, the same numbers
    with (case.root / "case.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[[party]]\nname = "Chris"\nphones = ["+44 7700 900555"]\n')
    assert main(["stats", str(case.root)]) == 0
    again = read_master(case).to_pylist()
    assert [(m["event_id"], m["exhibit"]) for m in again] == [(m["event_id"], m["exhibit"]) for m in after]
    # a case with nothing handed over links them
    assert len(read_master(ingest(tmp_path / "fresh", [export], [db]))) == 4


def test_a_name_written_decomposed_is_the_same_name(tmp_path):
    db, export = inputs(tmp_path / "in", subject="Caf\u00e9", named="Cafe\u0301")
    master = read_master(ingest(tmp_path / "case", [db, export])).to_pylist()
    assert [len(m["occurrences"]) for m in master] == [1, 2, 2, 2]
