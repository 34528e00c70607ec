"""Deduplication that never deletes, party resolution, exhibits, consistency between backups."""

import hashlib
from datetime import datetime, timezone

import pyarrow.parquet as pq

from conftest import make_case

from commtrail.timeline.master import build_master, read_master, read_possibly_deleted


def ts(day, hour, minute=0, second=0):
    return datetime(2024, 3, day, hour, minute, second, tzinfo=timezone.utc)


def sms(when, body, direction="incoming", who="+447700900123", **more):
    rec = {"ts_utc": when, "ts_precision": "ms", "tz_source": "source", "channel": "sms", "kind": "message",
           "direction": direction, "body": body}
    if direction == "incoming":
        rec.update(sender=who, recipients=["+447700900999"])
    else:
        rec.update(sender="+447700900999", recipients=[who])
    rec.update(more)
    return rec


BACKUP_1 = [sms(ts(1, 9), "hi"), sms(ts(1, 9, 1), "stop", "outgoing"), sms(ts(1, 10), "you there?"),
            sms(ts(1, 10), "you there?"), sms(ts(2, 9), "answer me")]
BACKUP_2 = BACKUP_1[:4] + [sms(ts(2, 9, 30), "new one")]   # "answer me" is gone from the later backup


def sha(name):
    return hashlib.sha256(name.encode()).hexdigest()


def test_overlapping_backups_give_each_message_once_with_every_copy(tmp_path):
    case = make_case(tmp_path / "c", {"sms-1.xml": BACKUP_1, "sms-2.xml": BACKUP_2}, fmt="smsbr-sms")
    rows = read_master(case).to_pylist()
    assert [(r["exhibit"], r["body"], len(r["occurrences"])) for r in rows] == [
        ("CT-000001", "hi", 2), ("CT-000002", "stop", 2), ("CT-000003", "you there?", 2),
        ("CT-000004", "you there?", 2), ("CT-000005", "answer me", 1), ("CT-000006", "new one", 1)]
    # the sum of occurrences equals the staged records
    assert sum(len(r["occurrences"]) for r in rows) == len(BACKUP_1) + len(BACKUP_2)
    first = rows[0]
    assert [(o["source_path"], o["locator"]) for o in first["occurrences"]] == sorted(
        [("sms-1.xml", "line 1"), ("sms-2.xml", "line 1")], key=lambda o: sha(o[0]))
    assert first["dup_method"] == "counterpart+direction+second+text"
    assert {r["party"] for r in rows} == {"Jordan"}


def test_a_message_repeated_on_purpose_stays_twice(tmp_path):
    case = make_case(tmp_path / "c", {"a.xml": [sms(ts(1, 10), "hello"), sms(ts(1, 10), "hello"),
                                                sms(ts(1, 10), "hello")]})
    rows = read_master(case).to_pylist()
    assert len(rows) == 3
    assert len({r["event_id"] for r in rows}) == 3


def test_ingest_order_does_not_change_the_master_bytes(tmp_path):
    a = make_case(tmp_path / "a", {"sms-1.xml": BACKUP_1, "sms-2.xml": BACKUP_2})
    b = make_case(tmp_path / "b", {"sms-2.xml": BACKUP_2, "sms-1.xml": BACKUP_1})
    assert a.master_file.read_bytes() == b.master_file.read_bytes()
    before = a.master_file.read_bytes()
    build_master(a)
    assert a.master_file.read_bytes() == before


def test_a_message_missing_from_the_later_backup_is_possibly_deleted(tmp_path):
    case = make_case(tmp_path / "c", {"sms-1.xml": BACKUP_1, "sms-2.xml": BACKUP_2}, fmt="smsbr-sms")
    gone = read_possibly_deleted(case).to_pylist()
    assert len(gone) == 1
    assert gone[0]["earlier_path"] == "sms-1.xml" and gone[0]["later_path"] == "sms-2.xml"
    master = {r["event_id"]: r for r in read_master(case).to_pylist()}
    assert master[gone[0]["event_id"]]["body"] == "answer me"


def test_no_merge_across_channels_or_directions(tmp_path):
    recs = [sms(ts(1, 9), "x"), dict(sms(ts(1, 9), "x"), channel="mms"), sms(ts(1, 9), "x", "outgoing")]
    case = make_case(tmp_path / "c", {"a": recs[:1], "b": recs[1:]})
    assert read_master(case).num_rows == 3


def test_number_forms_and_rounding_are_linked_not_merged(tmp_path):
    near = sms(ts(1, 9, 0, 1), "hi")        # one second later in the other backup
    case = make_case(tmp_path / "c", {"a": [sms(ts(1, 9), "hi")], "b": [near]})
    rows = read_master(case).to_pylist()
    assert len(rows) == 2
    import json
    assert json.loads(rows[0]["extra"])["near_duplicates"] == [rows[1]["event_id"]]
    assert json.loads(rows[1]["extra"])["near_duplicates"] == [rows[0]["event_id"]]


def test_parties_for_each_direction_and_unknowns(tmp_path):
    recs = [sms(ts(1, 9), "a"), sms(ts(1, 9, 5), "b", "outgoing", who="+447700900456"),
            sms(ts(1, 9, 6), "c", who="+447700900777"),
            {"ts_utc": ts(1, 9, 7), "channel": "email", "kind": "message", "direction": "incoming",
             "sender": "jordan.k@example.com", "recipients": ["sam@example.org"], "body": "d"},
            {"ts_utc": ts(1, 9, 8), "channel": "whatsapp", "kind": "message", "direction": "incoming",
             "sender": "wa:Jordan", "conversation": "Jordan", "body": "e"},
            {"ts_utc": ts(1, 9, 9), "channel": "whatsapp", "kind": "message", "direction": "outgoing",
             "sender": "wa:Sam", "conversation": "Jordan", "body": "f"},
            {"ts_utc": ts(1, 9, 10), "channel": "whatsapp", "kind": "system", "direction": "unknown",
             "conversation": "Jordan", "body": "Messages are end-to-end encrypted"}]
    case = make_case(tmp_path / "c", {"a": recs})
    assert [(r["body"], r["party"]) for r in read_master(case).to_pylist()] == [
        ("a", "Jordan"), ("b", "Jordan"), ("c", None), ("d", "Jordan"), ("e", "Jordan"), ("f", "Jordan"),
        ("Messages are end-to-end encrypted", None)]


def test_email_same_message_id_different_content_stays_two(tmp_path):
    mail = {"ts_utc": ts(1, 9), "channel": "email", "kind": "message", "direction": "incoming",
            "sender": "jordan.k@example.com", "recipients": ["sam@example.org"], "subject": "s",
            "body": "one", "extra": '{"message_id":"<1@example.com>"}'}
    case = make_case(tmp_path / "c", {"a": [mail], "b": [mail], "c": [dict(mail, body="two")]})
    rows = read_master(case).to_pylist()
    assert sorted((r["body"], len(r["occurrences"])) for r in rows) == [("one", 2), ("two", 1)]
    assert rows[0]["dup_method"] == "message-id+content"


def test_master_is_readable_by_duckdb_with_utc_microseconds(tmp_path):
    import duckdb
    case = make_case(tmp_path / "c", {"a": BACKUP_1})
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(f"SELECT exhibit, ts_utc, typeof(ts_utc), len(occurrences) FROM "
                       f"read_parquet('{case.master_file}') ORDER BY exhibit LIMIT 1").fetchall()
    assert rows[0][0] == "CT-000001"
    assert rows[0][1] == ts(1, 9)
    assert rows[0][2] == "TIMESTAMP WITH TIME ZONE"
    schema = pq.read_schema(case.master_file)
    assert str(schema.field("ts_utc").type) == "timestamp[us, tz=UTC]"


def test_empty_case_builds_an_empty_master(tmp_path):
    case = make_case(tmp_path / "c", {})
    assert read_master(case).num_rows == 0


def test_a_number_with_and_without_country_code_is_linked_not_merged(tmp_path):
    import json
    case = make_case(tmp_path / "c", {"a": [sms(ts(1, 9), "hi")], "b": [sms(ts(1, 9), "hi", who="(0)7700 900-123")],
                                      "c": [sms(ts(1, 9), "hi", who="+447700900456")]})
    rows = {r["sender"]: r for r in read_master(case).to_pylist()}
    assert len(rows) == 3
    assert json.loads(rows["+447700900123"]["extra"])["near_duplicates"] == [rows["(0)7700 900-123"]["event_id"]]
    assert json.loads(rows["(0)7700 900-123"]["extra"])["near_duplicates"] == [rows["+447700900123"]["event_id"]]
    assert rows["+447700900456"]["extra"] is None


def chat_line(when, sender, body):
    direction = "outgoing" if sender == "wa:Sam" else "incoming"
    return {"ts_utc": when, "ts_precision": "min", "tz_source": "case", "channel": "whatsapp", "kind": "message",
            "direction": direction, "sender": sender, "conversation": "Jordan", "body": body}


# Six messages of one chat in one minute, in the order they were written.
ONE_MINUTE = [chat_line(ts(1, 23, 35), "wa:Jordan", "why aren't you answering"),
              chat_line(ts(1, 23, 35), "wa:Jordan", "don't make me come round"),
              chat_line(ts(1, 23, 35), "wa:Sam", "please stop"),
              chat_line(ts(1, 23, 35), "wa:Jordan", "you'll regret this"),
              chat_line(ts(1, 23, 35), "wa:Jordan", "answer me"),
              chat_line(ts(1, 23, 35), "wa:Sam", "I have asked you to stop")]


def test_events_of_one_time_are_numbered_in_the_order_of_their_source(tmp_path):
    case = make_case(tmp_path / "c", {"chat.txt": [chat_line(ts(1, 23, 34), "wa:Jordan", "hello?")] + ONE_MINUTE})
    rows = read_master(case).to_pylist()
    assert [(r["exhibit"], r["locator"], r["body"]) for r in rows] == [
        ("CT-000001", "line 1", "hello?"), ("CT-000002", "line 2", "why aren't you answering"),
        ("CT-000003", "line 3", "don't make me come round"), ("CT-000004", "line 4", "please stop"),
        ("CT-000005", "line 5", "you'll regret this"), ("CT-000006", "line 6", "answer me"),
        ("CT-000007", "line 7", "I have asked you to stop")]


def test_one_time_follows_the_representative_copy_whatever_the_ingest_order(tmp_path):
    # The same chat twice, the second copy with its lines reversed: the representative is the copy in
    # the source with the smaller hash, and its order is the exhibit order.
    sources = {"a.txt": ONE_MINUTE, "b.txt": list(reversed(ONE_MINUTE))}
    first, second = sorted(sources, key=sha)
    case = make_case(tmp_path / "c", sources)
    rows = read_master(case).to_pylist()
    assert [r["body"] for r in rows] == [m["body"] for m in sources[first]]
    assert [(r["source_path"], r["locator"]) for r in rows] == [(first, f"line {i}") for i in range(1, 7)]
    assert [len(r["occurrences"]) for r in rows] == [2] * 6
    other = make_case(tmp_path / "d", {second: sources[second], first: sources[first]})
    assert other.master_file.read_bytes() == case.master_file.read_bytes()


def test_sms_and_mms_of_one_second_keep_the_backup_order(tmp_path):
    recs = [sms(ts(1, 9), "look"), dict(sms(ts(1, 9), "[photo]"), channel="mms"), sms(ts(1, 9), "that's your car")]
    rows = read_master(make_case(tmp_path / "c", {"sms.xml": recs})).to_pylist()
    assert [(r["exhibit"], r["channel"], r["body"]) for r in rows] == [
        ("CT-000001", "sms", "look"), ("CT-000002", "mms", "[photo]"), ("CT-000003", "sms", "that's your car")]


def test_undated_events_are_numbered_after_the_dated_ones(tmp_path):
    """Records with no time (null ts_utc, flag undated) of any channel: one event per content, copies
    in two sources merged, exhibit numbers after every dated event, the same bytes whatever the order.
    Among themselves they follow their representative copies' positions (the SMS, first in a.xml and
    second in b.xml, comes before the mail, third in a.xml, whichever source is the representative)."""
    undated_sms = sms(None, "no time here", flags=["undated"], ts_precision=None, tz_source=None)
    undated_mail = {**sms(None, "undated mail", flags=["undated"], ts_precision=None, tz_source=None),
                    "channel": "email", "sender": "jordan.k@example.com", "recipients": ["sam@example.org"]}
    sources = {"a.xml": [undated_sms, sms(ts(2, 9), "later"), undated_mail],
               "b.xml": [sms(ts(1, 9), "first"), undated_sms]}
    case = make_case(tmp_path / "c", sources)
    rows = read_master(case).to_pylist()
    assert [(r["exhibit"], r["body"], r["ts_utc"] is None, len(r["occurrences"]), r["party"]) for r in rows] == [
        ("CT-000001", "first", False, 1, "Jordan"), ("CT-000002", "later", False, 1, "Jordan"),
        ("CT-000003", "no time here", True, 2, "Jordan"), ("CT-000004", "undated mail", True, 1, "Jordan")]
    assert all(len(r["event_id"]) == 32 for r in rows)
    again = make_case(tmp_path / "d", dict(reversed(sources.items())))
    assert (again.root / "master.parquet").read_bytes() == (case.root / "master.parquet").read_bytes()
