from datetime import datetime, timezone

from conftest import make_case

from commtrail.timeline.master import read_master


def ts(*args):
    return datetime(*args, tzinfo=timezone.utc)


def test_make_case_builds_a_master(tmp_path):
    rec = {"ts_utc": ts(2024, 3, 1, 12), "channel": "sms", "kind": "message", "direction": "incoming",
           "sender": "+447700900123", "body": "hi"}
    case = make_case(tmp_path / "c", {"a.xml": [rec], "b.xml": [rec]})
    master = read_master(case).to_pylist()
    assert len(master) == 1
    assert master[0]["party"] == "Jordan"
    assert master[0]["exhibit"] == "CT-000001"
    assert [o["source_path"] for o in master[0]["occurrences"]] == sorted(["a.xml", "b.xml"],
        key=lambda p: __import__("hashlib").sha256(p.encode()).hexdigest())
