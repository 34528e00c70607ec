"""The master's quick paths (one source: no grouping; representatives already about in time order: one
pass without temporary files) write the very bytes of the general path."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_case

from commtrail.inventory import generated_sha256
from commtrail.timeline import assemble, dedup, master
from commtrail.timeline.master import build_master, read_master, read_possibly_deleted

BASE = datetime(2024, 10, 27, tzinfo=timezone.utc)


def sms(second, body, direction="incoming", who="+447700900123"):
    """An SMS at BASE + ``second`` seconds (None: undated)."""
    rec = {"ts_utc": None if second is None else BASE + timedelta(seconds=second), "ts_precision": "ms",
           "tz_source": "source", "channel": "sms", "kind": "message", "direction": direction, "body": body}
    rec.update({"sender": who, "recipients": ["+447700900999"]} if direction == "incoming" else
               {"sender": "+447700900999", "recipients": [who]})
    return rec


def chat(minute, body, author="Jordan"):
    """A WhatsApp message at BASE + ``minute`` minutes."""
    return {"ts_utc": BASE + timedelta(minutes=minute), "ts_precision": "min", "tz_source": "case",
            "channel": "whatsapp", "kind": "message", "direction": "incoming", "sender_raw": author,
            "conversation": "Jordan", "body": body}


# One source: three identical texts in one second (repeats), an undated one between dated ones,
# rows out of time order (a clock put back), texts one second apart (near duplicates), a chat.
ONE = ([sms(10, "ok"), sms(10, "ok"), sms(10, "ok"), sms(None, "undated"), sms(20, "where are you"),
        sms(21, "where are you"), sms(15, "back in time"), sms(30, "ok", "outgoing")]
       + [sms(40 + i, f"text {i}") for i in range(12)] + [chat(2, "hi"), chat(2, "hi"), sms(None, "last")])


class Paths:
    """Counts which assembler ran."""

    def __init__(self, monkeypatch):
        self.one_pass = 0
        self.buckets = 0
        real_one_pass, real_buckets = master.assemble_in_staging_order, master.assemble_master

        def one_pass(*args):
            self.one_pass += 1
            return real_one_pass(*args)

        def buckets(*args):
            self.buckets += 1
            return real_buckets(*args)
        monkeypatch.setattr(master, "assemble_in_staging_order", one_pass)
        monkeypatch.setattr(master, "assemble_master", buckets)


def general(monkeypatch):
    """Make every build take the general path: grouping and temporary buckets."""
    monkeypatch.setattr(dedup, "one_event_per_record", lambda files: False)
    monkeypatch.setattr(master, "one_pass_plan", lambda bucket, buckets_held: None)


def both(tmp_path, monkeypatch, sources, bucket_bytes=None):
    """(quick, general) cases built from the same sources, and the paths the quick build took."""
    if bucket_bytes:
        monkeypatch.setattr(dedup, "BUCKET_BYTES", bucket_bytes)
    paths = Paths(monkeypatch)
    quick = make_case(tmp_path / "quick", sources)
    taken = (paths.one_pass, paths.buckets)
    with monkeypatch.context() as m:
        general(m)
        slow = make_case(tmp_path / "general", sources)
    return quick, slow, taken


@pytest.mark.parametrize("bucket_bytes", [None, 3000])
def test_one_source_gives_the_bytes_of_the_general_path(tmp_path, monkeypatch, bucket_bytes):
    quick, slow, taken = both(tmp_path, monkeypatch, {"phone.xml": ONE}, bucket_bytes)
    assert taken == (1, 0)
    assert quick.master_file.read_bytes() == slow.master_file.read_bytes()
    assert read_possibly_deleted(quick).equals(read_possibly_deleted(slow))
    rows = read_master(quick).to_pylist()
    assert len(rows) == len(ONE)                     # repeats stay three events, the chat repeat two
    assert [r["body"] for r in rows[:4]] == ["ok", "ok", "ok", "back in time"]    # 10 s, 10 s, 10 s, 15 s
    assert [r["body"] for r in rows[-4:]] == ["hi", "hi", "undated", "last"]     # undated after every dated one
    assert len({r["event_id"] for r in rows}) == len(ONE)
    assert [r["exhibit"] for r in rows[:2]] == ["CT-000001", "CT-000002"]
    assert [r["occurrences"][0]["locator"] for r in rows if r["body"] in ("back in time", "undated", "last")] == [
        "line 7", "line 4", "line 23"]
    near = [r for r in rows if r["body"] == "where are you"]
    assert [r["extra"] for r in near] == [
        '{"near_duplicates":["%s"]}' % near[1]["event_id"], '{"near_duplicates":["%s"]}' % near[0]["event_id"]]


def test_sources_in_hash_and_time_order_take_one_pass_with_the_same_bytes(tmp_path, monkeypatch):
    first, second = sorted(["a.xml", "b.xml"], key=generated_sha256)
    sources = {first: [sms(i, f"text {i}") for i in range(10)],
               second: [sms(i, f"text {i}") for i in range(5, 15)]}   # shares seconds 5..9
    quick, slow, taken = both(tmp_path, monkeypatch, sources, 700)
    assert taken == (1, 0)
    assert quick.master_file.read_bytes() == slow.master_file.read_bytes()
    rows = read_master(quick).to_pylist()
    assert [r["body"] for r in rows] == [f"text {i}" for i in range(15)]
    assert [len(r["occurrences"]) for r in rows] == [1] * 5 + [2] * 5 + [1] * 5


def test_a_source_far_out_of_time_order_uses_the_buckets(tmp_path, monkeypatch):
    reversed_texts = [sms(100 - i, f"text {i}") for i in range(40)]   # all held: more than 8 buckets of 2-3
    quick, slow, taken = both(tmp_path, monkeypatch, {"phone.xml": reversed_texts}, 700)
    assert taken == (0, 1)
    assert quick.master_file.read_bytes() == slow.master_file.read_bytes()
    assert [r["body"] for r in read_master(quick).to_pylist()] == [f"text {i}" for i in reversed(range(40))]


def test_a_rebuild_by_the_quick_path_leaves_the_same_bytes(tmp_path):
    case = make_case(tmp_path / "c", {"phone.xml": ONE})
    before = case.master_file.read_bytes()
    build_master(case)
    assert case.master_file.read_bytes() == before
    assert not (case.root / ".duckdb-tmp").exists()


message = st.tuples(st.one_of(st.none(), st.integers(0, 40)), st.sampled_from(["hi", "stop", "🙂", ""]),
                    st.sampled_from(["incoming", "outgoing"]))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(srcs=st.lists(st.lists(message, min_size=1, max_size=10), min_size=1, max_size=3),
       bucket_bytes=st.sampled_from([700, 2000, 96 << 20]))
def test_quick_paths_write_what_the_general_path_writes(tmp_path_factory, srcs, bucket_bytes):
    root = tmp_path_factory.mktemp("case")
    sources = {f"s{i}.xml": [sms(second, body, direction) for second, body, direction in msgs]
               for i, msgs in enumerate(srcs)}
    with pytest.MonkeyPatch.context() as m:
        m.setattr(dedup, "BUCKET_BYTES", bucket_bytes)
        quick = make_case(root / "quick", sources)
        general(m)
        slow = make_case(root / "general", sources)
    assert quick.master_file.read_bytes() == slow.master_file.read_bytes()
    assert read_possibly_deleted(quick).equals(read_possibly_deleted(slow))
    assert read_master(quick).num_rows >= max(len(m) for m in srcs)


def test_the_one_pass_assembler_refuses_a_bucket_it_was_not_told_of(tmp_path):
    case = make_case(tmp_path / "c", {"phone.xml": ONE[:3]})
    named = assemble.Sources([case.staging / f"{generated_sha256('phone.xml')}.parquet"],
                             [{"sha256": generated_sha256("phone.xml"), "path": "phone.xml"}])
    session = dedup.run_dedup(named.files, [{"sha256": generated_sha256("phone.xml"), "path": "phone.xml",
                                             "format": "test"}], case.config, tmp_path / "tmp")
    try:
        session.index_representatives()
        reader = session.representatives_reader()(0, 0)
        with pytest.raises(assemble.AssemblyError, match="events numbered"):
            list(assemble.assemble_in_staging_order(reader, [(0, 2)], named))
    finally:
        session.close()


def test_the_one_pass_plan_counts_the_rows_it_would_hold():
    assert assemble.one_pass_plan(np.array([0, 0, 1, 1, 2, 2])) == [(0, 2), (1, 2), (2, 2)]
    # an undated row (last bucket) early is held to the end: never more than two buckets' rows
    assert assemble.one_pass_plan(np.array([0, 2, 0, 1, 1, 2])) == [(0, 2), (1, 2), (2, 2)]
    assert assemble.one_pass_plan(np.array([2, 2, 1, 1, 0, 0])) is None      # all six held
    assert assemble.one_pass_plan(np.array([], np.int64)) == []
